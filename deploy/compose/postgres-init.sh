#!/bin/sh
# The database layout Gongyi expects, as gongyi/devinfra/postgres.py (`provision_database`,
# `_layout_sql`) creates it for tests: in database $POSTGRES_DB, pg_trgm in `public` and per
# service a login role `gongyi_<svc>` (search_path `<svc>, public`) owning schema `<svc>`. No role
# can use another service's schema or create in `public`; only the service roles (and superusers)
# may connect. Run by the official postgres image once, on an empty data directory; passwords
# come from GONGYI_<SVC>_DB_PASSWORD and reach psql as variables (quoted by psql, never by sh).
set -eu

for svc in REGISTRY EVALUATION GRANTS NOTIFICATIONS; do
  eval "pw=\${GONGYI_${svc}_DB_PASSWORD:-}"
  if [ -z "$pw" ]; then
    echo "postgres-init: GONGYI_${svc}_DB_PASSWORD is not set" >&2
    exit 1
  fi
done

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" \
  -v registry_pw="$GONGYI_REGISTRY_DB_PASSWORD" \
  -v evaluation_pw="$GONGYI_EVALUATION_DB_PASSWORD" \
  -v grants_pw="$GONGYI_GRANTS_DB_PASSWORD" \
  -v notifications_pw="$GONGYI_NOTIFICATIONS_DB_PASSWORD" <<'SQL'
-- pg_trgm splits words by the database's ctype: a locale that does not class CJK ideographs as
-- letters would give Chinese names no trigrams at all.
DO $$
BEGIN
  IF NOT ('养' ~ '^[[:alpha:]]$') THEN
    RAISE EXCEPTION 'the database locale does not treat CJK as letters; initdb with --locale=C.UTF-8';
  END IF;
END
$$;

CREATE ROLE gongyi_registry LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'registry_pw';
CREATE ROLE gongyi_evaluation LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'evaluation_pw';
CREATE ROLE gongyi_grants LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'grants_pw';
CREATE ROLE gongyi_notifications LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'notifications_pw';
ALTER ROLE gongyi_registry SET search_path = registry, public;
ALTER ROLE gongyi_evaluation SET search_path = evaluation, public;
ALTER ROLE gongyi_grants SET search_path = grants, public;
ALTER ROLE gongyi_notifications SET search_path = notifications, public;

BEGIN;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO gongyi_registry, gongyi_evaluation, gongyi_grants, gongyi_notifications;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO gongyi_registry, gongyi_evaluation, gongyi_grants, gongyi_notifications;
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE SCHEMA IF NOT EXISTS registry AUTHORIZATION gongyi_registry;
ALTER SCHEMA registry OWNER TO gongyi_registry;
REVOKE ALL ON SCHEMA registry FROM PUBLIC;
REVOKE ALL ON SCHEMA registry FROM gongyi_evaluation;
REVOKE ALL ON SCHEMA registry FROM gongyi_grants;
REVOKE ALL ON SCHEMA registry FROM gongyi_notifications;

CREATE SCHEMA IF NOT EXISTS evaluation AUTHORIZATION gongyi_evaluation;
ALTER SCHEMA evaluation OWNER TO gongyi_evaluation;
REVOKE ALL ON SCHEMA evaluation FROM PUBLIC;
REVOKE ALL ON SCHEMA evaluation FROM gongyi_registry;
REVOKE ALL ON SCHEMA evaluation FROM gongyi_grants;
REVOKE ALL ON SCHEMA evaluation FROM gongyi_notifications;

CREATE SCHEMA IF NOT EXISTS grants AUTHORIZATION gongyi_grants;
ALTER SCHEMA grants OWNER TO gongyi_grants;
REVOKE ALL ON SCHEMA grants FROM PUBLIC;
REVOKE ALL ON SCHEMA grants FROM gongyi_registry;
REVOKE ALL ON SCHEMA grants FROM gongyi_evaluation;
REVOKE ALL ON SCHEMA grants FROM gongyi_notifications;

CREATE SCHEMA IF NOT EXISTS notifications AUTHORIZATION gongyi_notifications;
ALTER SCHEMA notifications OWNER TO gongyi_notifications;
REVOKE ALL ON SCHEMA notifications FROM PUBLIC;
REVOKE ALL ON SCHEMA notifications FROM gongyi_registry;
REVOKE ALL ON SCHEMA notifications FROM gongyi_evaluation;
REVOKE ALL ON SCHEMA notifications FROM gongyi_grants;
COMMIT;
SQL
