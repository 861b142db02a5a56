# syntax=docker/dockerfile:1
#
# Circuit Breaker container image.
#   docker build -t circuit-breaker:0.1.0 .
#   docker network create cb && docker run -d --name cb-redis --network cb redis:7-alpine
#   docker run --rm --name cb --network cb -p 3000:3000 \
#     -e REDIS_URL=redis://cb-redis:6379 \
#     -e CB__AUTH__MODE=jwt \
#     -e CB_JWT_SECRET=replace-with-your-own-secret-of-32-chars-or-more \
#     -e CB__PROVIDERS__SIMULATED__ENABLED=true \
#     circuit-breaker:0.1.0
#
# The image runs in production mode (NODE_ENV=production), which does not start without authentication: the
# example turns on JWT auth with an HS256 secret (make your own: openssl rand -hex 32). Clients send
# `Authorization: Bearer <token>` signed with it; a development token for the same secret:
#   docker exec cb node -e "const {loadConfig}=require('./dist/config/config.loader');const {signDevToken}=require('./dist/auth/dev-token');console.log(signDevToken(loadConfig(),{sub:'me',ttl:3600}))"
# CB__PROVIDERS__SIMULATED__ENABLED=true turns on the built-in `simulated` provider (models simulated/echo and
# simulated/lorem: no key, no network) for a keyless try-out; production serves real providers only unless
# it is set. For those, pass their keys instead (-e OPENAI_API_KEY=..., ANTHROPIC_API_KEY, GEMINI_API_KEY,
# OPENROUTER_API_KEY). test/deployment.e2e-spec.ts boots the service with exactly this example's env.
# Two nodes behind nginx: docker-compose.yml and docs/deployment.md.
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
# HOST: listen on the container's network interfaces. Set here rather than left to server.host's default, which
# keeps a node without authentication on loopback.
ENV NODE_ENV=production \
    HOST=0.0.0.0
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
