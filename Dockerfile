# Atrium: multi-stage build on Node.js 22, running as the unprivileged `node` user.
#
# Environment (see README.md):
#   PORT                      listening port (default 3000)
#   ATRIUM_ISSUER             public https URL of this server, e.g. https://sso.example.com
#   ATRIUM_REDIS_URL          redis:// or rediss:// URL; without it the embedded store is used
#   ATRIUM_REDIS_PREFIX       key prefix in Redis (default "atrium:")
#   ATRIUM_DATA_DIR           folder of the embedded store (default /data here)
#   ATRIUM_ADMIN_PASSWORD     password of the platform admin, used on the first start only
#   ATRIUM_COOKIE_KEYS        comma-separated cookie signing keys (32+ characters each); required in production
#   ATRIUM_SIGNING_ALG        RS256 (default) or ES256 for ID tokens
#   ATRIUM_LOG_LEVEL          info (default), debug, warn, error, silent
#   ATRIUM_TRUST_PROXY_HOPS   how many proxies in front append to X-Forwarded-For; required with an https issuer (0 on purpose too)
#   ATRIUM_METRICS_TOKEN      bearer token for /metrics (16+ characters); without it /metrics is off in production
#   ATRIUM_CONFIG             path of a JSON file merged over config/default.json

FROM node:22-bookworm-slim AS build
WORKDIR /app
# Toolchain for native modules that have no prebuilt binary for this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    ATRIUM_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
COPY views ./views
COPY public ./public
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The young generation size of SERVER_NODE_FLAGS (src/server.ts); the workers get it too.
CMD ["node", "--max-semi-space-size=32", "dist/main.js"]
