# keepfed container image: a static binary on a distroless base, run as a
# non-root user. Build:  docker build -t keepfed .
# Run:    docker run -v /etc/arvados:/etc/arvados:ro -v keepfed-data:/var/lib/keepfed -p 9002:9002 keepfed
# The config's KeepFed.Listen must bind 0.0.0.0:9002 (or [::]:9002) inside
# the container, and KeepFed.DataDir should be under /var/lib/keepfed.

FROM golang:1.26 AS build
WORKDIR /src
# dependencies first, so that source changes reuse the module cache layer
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/keepfed ./cmd/keepfed \
    && mkdir -p /out/var/lib/keepfed

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/keepfed /usr/local/bin/keepfed
COPY --from=build --chown=65532:65532 /out/var/lib/keepfed /var/lib/keepfed
USER 65532:65532
VOLUME ["/var/lib/keepfed"]
EXPOSE 9002
ENTRYPOINT ["/usr/local/bin/keepfed", "serve", "-config", "/etc/arvados/config.yml"]
