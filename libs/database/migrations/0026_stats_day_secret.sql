-- The agents of a day's removed submissions are named under a secret derived from PSEUDONYM_KEY, which the
-- database never holds, instead of a random salt stored beside them (with the salt and the agents'
-- pseudonyms, anyone reading the database could tie a removed row to its agent until the day was final).
-- stats_salts stays as the list of days with removed rows; a day salted before this keeps its salt until final.
ALTER TABLE "stats_salts" ALTER COLUMN "salt" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "stats_salts" ALTER COLUMN "salt" DROP NOT NULL;
