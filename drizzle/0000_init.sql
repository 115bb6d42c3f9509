CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"scopes" text[] NOT NULL,
	"host" text,
	"token_hash" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "checkpoints" (
	"size" bigint PRIMARY KEY NOT NULL,
	"root" "bytea" NOT NULL,
	"note" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "conflicts" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "conflicts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"host" text NOT NULL,
	"server" text NOT NULL,
	"pane" text NOT NULL,
	"seq" bigint NOT NULL,
	"existing_leaf_hash" "bytea" NOT NULL,
	"rejected_leaf" "bytea" NOT NULL,
	"key_id" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cosignatures" (
	"size" bigint NOT NULL,
	"witness" text NOT NULL,
	"line" text NOT NULL,
	"time" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cosignatures_size_witness_pk" PRIMARY KEY("size","witness")
);
--> statement-breakpoint
CREATE TABLE "entries" (
	"leaf_hash" "bytea" PRIMARY KEY NOT NULL,
	"leaf" "bytea" NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "leaves" (
	"idx" bigint PRIMARY KEY NOT NULL,
	"leaf_hash" "bytea" NOT NULL,
	"host" text,
	"server" text,
	"pane" text,
	"seq" bigint,
	"session" text,
	"type" text,
	"user" text,
	"time" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "log_state" (
	"id" integer PRIMARY KEY NOT NULL,
	"size" bigint NOT NULL,
	"root" "bytea" NOT NULL,
	"right_edge" "bytea" NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "log_state_one_row" CHECK ("log_state"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE "payloads" (
	"leaf_hash" "bytea" PRIMARY KEY NOT NULL,
	"salt" "bytea" NOT NULL,
	"content" "bytea" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"server" text NOT NULL,
	"session" text NOT NULL,
	"user" text NOT NULL,
	"first_idx" bigint NOT NULL,
	"last_idx" bigint NOT NULL,
	"first_time" timestamp with time zone NOT NULL,
	"last_time" timestamp with time zone NOT NULL,
	"events" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tiles" (
	"level" integer NOT NULL,
	"idx" bigint NOT NULL,
	"hashes" "bytea" NOT NULL,
	CONSTRAINT "tiles_level_idx_pk" PRIMARY KEY("level","idx")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "leaves_leaf_hash" ON "leaves" USING btree ("leaf_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "leaves_stream_seq" ON "leaves" USING btree ("host","server","pane","seq");--> statement-breakpoint
CREATE INDEX "leaves_session" ON "leaves" USING btree ("session","host","server","idx");--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_key" ON "sessions" USING btree ("host","server","session");--> statement-breakpoint
CREATE INDEX "sessions_last_time" ON "sessions" USING btree ("last_time");--> statement-breakpoint
CREATE INDEX "sessions_host_time" ON "sessions" USING btree ("host","last_time");--> statement-breakpoint
CREATE INDEX "sessions_user_time" ON "sessions" USING btree ("user","last_time");