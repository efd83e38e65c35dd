# op-kube's image: one image for `op-kube operator` and `op-kube webhook` (the chart picks the
# subcommand and the Node flags of each component in the container's command; 1Password's
# Deployments run unchanged: /manager, and the injector's flags pick `webhook`).
# Build: docker build -t op-kube:0.1.0 .   (another base: --build-arg NODE_IMAGE=node:24-slim)

ARG NODE_IMAGE=node:24-alpine

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: the `node` dev dependency would download a second (glibc) Node into the tree; the
# image's own Node 24 runs the build, so its bin link is removed from the PATH npm run sets up.
RUN npm ci --ignore-scripts --no-audit --no-fund && rm -f node_modules/.bin/node
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; the `node` dev dependency (Node 24 for checkouts) is left out.
# --omit=optional: typescript (23 MB, half of node_modules) is otherwise kept as valibot's optional
# peer because it is also a dev dependency; nothing op-kube runs is optional.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="op-kube" \
      org.opencontainers.image.description="Kubernetes operator and secrets injector for 1Password Connect" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /app
COPY --from=deps /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY package.json ./
COPY bin/ bin/
COPY crds/ crds/
# 1Password's manifests run with only the image swapped: its operator Deployment's
# `command: ["/manager"]` runs `op-kube operator`, `/injector` (its injector image's entrypoint)
# `op-kube webhook`. Links, so node resolves them to /app/bin (ESM, next to op-kube.js); the files'
# shebang is /usr/local/bin/node, where every Node base image has it.
# 1Password's injector Deployment runs `/bin/sh -c /prestop.sh` before stopping (its script deletes
# the webhook configuration); op-kube's webhook removes its own on SIGTERM, so the hook does nothing
# here, and no FailedPreStopHook Event is recorded.
RUN ln -s /app/bin/manager.js /manager && ln -s /app/bin/injector.js /injector \
    && printf '#!/bin/sh\nexit 0\n' > /prestop.sh && chmod 755 /prestop.sh
# Numeric non-root user, so runAsNonRoot can be checked; nothing is written at run time except
# under /tmp (an emptyDir in the chart), so the root filesystem may be read-only.
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/op-kube.js"]
CMD ["--help"]
