# Stand-in for postgres:16-bookworm where no registry is reachable: Debian's PostgreSQL 15 on
# the local base, with what the compose file uses of the official image: POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB on first start, /docker-entrypoint-initdb.d/*.sql, data in
# /var/lib/postgresql/data, password logins from the network.
ARG BASE_IMAGE=localhost/fleetcast-base:bookworm
FROM ${BASE_IMAGE}
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
    && mkdir -p /etc/postgresql-common \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* /var/log/* /usr/sbin/policy-rc.d \
    && mkdir -p /var/lib/postgresql/data /run/postgresql /docker-entrypoint-initdb.d \
    && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
CMD ["postgres"]
