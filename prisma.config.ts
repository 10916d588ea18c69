// Prisma CLI configuration (Prisma 7 reads the datasource URL from here, not
// from schema.prisma). The placeholder URL lets `prisma generate` run on a
// fresh clone with no database; `prisma migrate deploy` needs a real one.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: {
    url: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres",
  },
});
