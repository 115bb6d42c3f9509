CREATE TABLE "batches" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "batches_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"codec" integer NOT NULL,
	"count" integer NOT NULL,
	"leaves" "bytea" NOT NULL,
	"contents" "bytea" NOT NULL,
	"version" integer DEFAULT 0 NOT NULL,
	"integrated" boolean DEFAULT false NOT NULL,
	"staged_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "command_payloads" (
	"leaf_hash" "bytea" PRIMARY KEY NOT NULL,
	"content" "bytea" NOT NULL,
	"staged_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "leaves" ADD COLUMN "batch" bigint;--> statement-breakpoint
ALTER TABLE "leaves" ADD COLUMN "slot" integer;--> statement-breakpoint
CREATE INDEX "batches_not_integrated" ON "batches" USING btree ("staged_at") WHERE NOT "batches"."integrated";