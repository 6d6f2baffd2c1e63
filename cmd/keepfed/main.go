// Command keepfed is the keepfed server and its operator tools.
//
// Run "keepfed help" for the list of subcommands.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. run gets the arguments after the subcommand
// name and returns the process exit code: 0 success, 1 a negative answer or
// a failure, 2 a usage error.
type command struct {
	summary string
	run     func(args []string, io stdio) int
}

// stdio is the command's environment, so tests can run commands in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	getenv   func(string) string
}

var commands = map[string]command{}

// register adds a subcommand; each command file calls it from init.
func register(name, summary string, run func([]string, stdio) int) {
	commands[name] = command{summary: summary, run: run}
}

func main() {
	os.Exit(run(os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, getenv: os.Getenv}))
}

func run(args []string, sio stdio) int {
	if len(args) == 0 {
		usage(sio.err)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(sio.out)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(sio.err, "keepfed: unknown command %q\n\n", name)
		usage(sio.err)
		return 2
	}
	return c.run(args[1:], sio)
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("keepfed: a fast Arvados federation proxy and its operator tools.\n\nUsage: keepfed <command> [flags] [args]\n\nCommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-12s %s\n", n, commands[n].summary)
	}
	b.WriteString("\nRun \"keepfed <command> -h\" for a command's flags.\n")
	io.WriteString(w, b.String())
}
