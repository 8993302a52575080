-- Run once by the postgres image, on an empty data directory (/docker-entrypoint-initdb.d): Temporal's two
-- databases and ntk's result store, all owned by POSTGRES_USER. Their schemas come from temporal-schema
-- (Temporal) and from ntk's own migrations (the first worker to connect applies them).
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
CREATE DATABASE ntk;
