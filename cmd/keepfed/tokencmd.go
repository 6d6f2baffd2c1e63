package main

import (
	"errors"
	"fmt"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
)

func init() {
	register("token", "issue an API token: token create -config FILE [-cluster ID] [-user EMAIL] [-admin] [-ttl D]", runToken)
}

// runToken is "keepfed token create": it prints a new v2 token of the
// embedded backend for the user with -user's email (created if needed; by
// default the system user, "root"). It works whether or not a server runs
// on the config's DataDir: when one holds the record store, the token is
// asked of it at KeepFed.Listen (POST /_keepfed/tokens, authorized with the
// SystemRootToken).
func runToken(args []string, sio stdio) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(sio.err, "keepfed token: usage: keepfed token create -config FILE [-cluster ID] [-user EMAIL] [-admin] [-ttl D]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	fs := newFlagSet("token create", sio.err)
	var configPaths multiFlag
	fs.Var(&configPaths, "config", "Arvados cluster config file (required; repeatable, as for serve)")
	cluster := fs.String("cluster", "", "cluster id in -config (optional when the file has one cluster)")
	user := fs.String("user", "", "email of the token's user, created if no local user has it (default: the system user, root)")
	admin := fs.Bool("admin", false, "make the user an admin")
	ttl := fs.Duration("ttl", 0, "token lifetime (default: never expires)")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if len(configPaths) == 0 || fs.NArg() > 0 {
		return fail(sio, "token create", usageError{errors.New("usage: keepfed token create -config FILE [-cluster ID] [-user EMAIL] [-admin] [-ttl D]")})
	}
	if *ttl < 0 {
		return fail(sio, "token create", usageError{errors.New("-ttl must not be negative")})
	}
	cfg, warnings, err := config.ReadConfigFiles(configPaths, *cluster)
	for _, w := range warnings {
		fmt.Fprintf(sio.err, "keepfed token create: warning: unknown config key %s ignored\n", w)
	}
	if err != nil {
		return fail(sio, "token create", err)
	}
	if cfg.KeepFed.Backend != "embedded" {
		return fail(sio, "token create", fmt.Errorf("Clusters.%s.KeepFed.Backend is %q: tokens are issued by the embedded backend only (with the arvados backend, use the Arvados tools)", cfg.ClusterID, cfg.KeepFed.Backend))
	}
	it, err := identity.IssueToken(cfg, identity.IssueTokenRequest{Email: *user, Admin: *admin, TTL: *ttl})
	if err != nil {
		return fail(sio, "token create", err)
	}
	fmt.Fprintln(sio.out, it.Token)
	return 0
}
