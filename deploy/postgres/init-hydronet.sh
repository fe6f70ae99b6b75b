#!/bin/sh
# Run once by the postgres image on its first start (docker-entrypoint-initdb.d): the
# database HydroNet owns, its login role, and the role every query switches to.
#
# `hydronet` owns the database and runs the migrations; it is not a superuser. The
# migrations would create `hydronet_app` themselves if the login role could; making it
# here and granting it means `hydronet` needs no CREATEROLE.
set -eu

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v app_password="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE hydronet LOGIN PASSWORD :'app_password';
CREATE ROLE hydronet_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
GRANT hydronet_app TO hydronet;
CREATE DATABASE hydronet OWNER hydronet;
SQL
