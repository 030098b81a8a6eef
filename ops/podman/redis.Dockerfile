# Stand-in for redis:7.2-bookworm where no registry is reachable: Debian's redis-server (7.0) on
# the local base. As in the official image: data in /data, no protected mode (the compose
# network is the boundary), the compose file's command line as is, run as the redis user.
ARG BASE_IMAGE=localhost/fleetcast-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* /var/log/* \
    && mkdir /data && chown redis:redis /data \
    && printf '#!/bin/sh\nif [ "$1" = redis-server ]; then shift; set -- redis-server --protected-mode no "$@"; fi\nexec "$@"\n' \
    > /usr/local/bin/redis-entrypoint && chmod 755 /usr/local/bin/redis-entrypoint
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-entrypoint"]
CMD ["redis-server"]
