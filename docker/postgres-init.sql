-- Runs once, on the first start of an empty data volume (docker-entrypoint-initdb.d).
-- POSTGRES_DB creates the `prefect` database; MLflow gets its own.
CREATE DATABASE mlflow;
