# syntax=docker/dockerfile:1
#
# Circuit Breaker container image.
#   docker build -t circuit-breaker:0.1.0 .
#   docker run --rm -p 3000:3000 -e REDIS_URL=redis://host.docker.internal:6379 circuit-breaker:0.1.0
#
# Layout at runtime (the config loader resolves <app root>/config from dist/config/..):
#   /app/dist         compiled JavaScript (entry point dist/main.js)
#   /app/config       default.yml (+ optional <NODE_ENV>.yml); overlay more with CB_CONFIG_FILE
#   /app/node_modules production dependencies only
#   /app/var          the only directory the app user may write to (e.g. a dead-letter spool)

ARG NODE_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------------------
# Build: install all dependencies, compile TypeScript, then drop devDependencies.
# ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NPM_CONFIG_AUDIT=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false

# Dependencies first so this layer is cached until the lockfile changes. No runtime dependency needs an
# install script (the two packages with one, @parcel/watcher and unrs-resolver, are dev-only and ship
# prebuilt bindings; both are denied in package.json "allowScripts"), so scripts are skipped outright. This
# also holds on npm 10, which ships with Node 22 and does not read "allowScripts".
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts

COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY config ./config
RUN npm run build \
 && test -f dist/main.js \
 && npm prune --omit=dev --ignore-scripts

# ---------------------------------------------------------------------------------------------------
# Runtime: production dependencies + compiled output, run as the unprivileged "node" user (uid 1000).
# ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app

# Application files stay owned by root (read-only to the app user); only /app/var is writable.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/config ./config
RUN mkdir -p /app/var && chown 1000:1000 /app/var

# Numeric uid:gid (the image's "node" user) so Kubernetes runAsNonRoot can verify it without a lookup.
USER 1000:1000

EXPOSE 3000

# Liveness only (process up, event loop answering). Readiness (/health/ready) also needs Redis and is for
# orchestrators/load balancers, not for marking the container unhealthy. Slim images have no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "require('http').get({host:'127.0.0.1',port:process.env.PORT||3000,path:'/health/live',timeout:3000},r=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]

# Exec form: node is PID 1 and receives SIGTERM directly (the app fails readiness, then drains in-flight
# streams before exiting). Do not wrap in `npm start` or a shell.
CMD ["node", "dist/main.js"]
