-- One PostgreSQL for the stack, one database per server: MLflow and Prefect both keep their
-- schema version in an alembic table, so they cannot share a database.
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
