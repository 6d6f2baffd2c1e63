package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/keepfed/keepfed/keepfed"
	"github.com/keepfed/keepfed/keepfed/config"
)

func init() {
	register("serve", "run the keepfed server (-config FILE [-cluster ID])", runServe)
}

// serveSignals are the signals that start a graceful shutdown; tests
// replace it.
var serveSignals = func() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

// serveReady, when set (by tests), is told the address the server listens on.
var serveReady func(addr string)

func runServe(args []string, sio stdio) int {
	fs := newFlagSet("serve", sio.err)
	var configPaths multiFlag
	fs.Var(&configPaths, "config", "Arvados cluster config file (required; repeat to add files whose keys override, e.g. keepfed's own KeepFed section)")
	cluster := fs.String("cluster", "", "cluster id in -config (optional when the file has one cluster)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(configPaths) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(sio.err, "keepfed serve: usage: keepfed serve -config FILE [-cluster ID]")
		return 2
	}
	log := slog.New(slog.NewJSONHandler(sio.err, nil))
	if err := serve(configPaths, *cluster, log); err != nil {
		fmt.Fprintf(sio.err, "keepfed serve: %s\n", err)
		return 1
	}
	return 0
}

func serve(configPaths []string, cluster string, log *slog.Logger) error {
	cfg, warnings, err := config.LoadConfigFiles(configPaths, cluster)
	for _, w := range warnings {
		log.Warn("unknown config key ignored", "key", w)
	}
	if err != nil {
		return err
	}
	srv, err := keepfed.NewCluster(cfg, keepfed.Options{Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.KeepFed.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on Clusters.%s.KeepFed.Listen %s: %w", cfg.ClusterID, cfg.KeepFed.Listen, err)
	}
	log.Info("keepfed listening", "cluster", cfg.ClusterID, "listen", ln.Addr().String(), "external_url", cfg.KeepFed.ExternalURL)
	if serveReady != nil {
		serveReady(ln.Addr().String())
	}
	sigs, stop := serveSignals()
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if sent, err := keepfed.SdNotify("READY=1"); err != nil {
		log.Warn("cannot notify the service manager", "error", err.Error())
	} else if sent {
		log.Info("notified the service manager", "state", "READY=1")
	}
	select {
	case err := <-errc:
		return err
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String(), "timeout", cfg.KeepFed.ShutdownTimeout.D().String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.KeepFed.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("shutdown timed out after %s (Clusters.%s.KeepFed.ShutdownTimeout); in-flight requests were cut", cfg.KeepFed.ShutdownTimeout.D(), cfg.ClusterID)
		}
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
