# Stand-in for prom/prometheus where no registry is reachable: Debian's prometheus (2.42) on the
# local base, with the official image's paths (config in /etc/prometheus, data in /prometheus)
# and wget for the compose file's health check.
ARG BASE_IMAGE=localhost/fleetcast-base:bookworm
FROM ${BASE_IMAGE}
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus wget \
    && rm -rf /var/lib/apt/lists/* /var/log/* /usr/sbin/policy-rc.d \
    && mkdir /prometheus && chown prometheus:prometheus /prometheus
WORKDIR /prometheus
USER prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
