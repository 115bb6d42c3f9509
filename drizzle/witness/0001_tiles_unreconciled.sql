CREATE TABLE "witness_unreconciled" (
	"origin" text NOT NULL,
	"peer" text NOT NULL,
	"peer_size" bigint,
	"since" timestamp with time zone DEFAULT now() NOT NULL,
	"reason" text NOT NULL,
	CONSTRAINT "witness_unreconciled_origin_peer_pk" PRIMARY KEY("origin","peer")
);
--> statement-breakpoint
CREATE TABLE "witness_tiles" (
	"origin" text NOT NULL,
	"level" integer NOT NULL,
	"idx" bigint NOT NULL,
	"width" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "witness_tiles_origin_level_idx_pk" PRIMARY KEY("origin","level","idx")
);
--> statement-breakpoint
ALTER TABLE "witness_logs" ADD COLUMN "tiles_size" bigint DEFAULT 0 NOT NULL;