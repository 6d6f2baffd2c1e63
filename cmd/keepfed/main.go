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
	return dispatch(mainMenu, commands, args, sio)
}

// menu is the usage text around a list of (sub)commands.
type menu struct {
	prog, head, tail string
	what             string // "command" or "subcommand"
}

var mainMenu = menu{
	prog: "keepfed",
	head: "keepfed: a fast Arvados federation proxy and its operator tools.\n\nUsage: keepfed <command> [flags] [args]\n\nCommands:\n",
	tail: "\nRun \"keepfed <command> -h\" for a command's flags.\n",
	what: "command",
}

// dispatch runs the entry of table named by args[0] with the rest of
// args; no name is a usage error, "help" prints the menu.
func dispatch(m menu, table map[string]command, args []string, sio stdio) int {
	if len(args) == 0 {
		m.write(sio.err, table)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		m.write(sio.out, table)
		return 0
	}
	c, ok := table[args[0]]
	if !ok {
		fmt.Fprintf(sio.err, "%s: unknown %s %q\n\n", m.prog, m.what, args[0])
		m.write(sio.err, table)
		return 2
	}
	return c.run(args[1:], sio)
}

// write prints the menu with table's entries in name order.
func (m menu) write(w io.Writer, table map[string]command) {
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(m.head)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-12s %s\n", n, table[n].summary)
	}
	b.WriteString(m.tail)
	io.WriteString(w, b.String())
}
