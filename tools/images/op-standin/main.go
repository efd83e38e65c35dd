// A test-only stand-in for 1Password's `op` CLI: `op run -- CMD` resolves op:// references through Connect, then execs CMD.
//
// Not 1Password's op: it exists because the real image cannot be pulled on the test machines.
// It reads OP_CONNECT_HOST and OP_CONNECT_TOKEN only (no service accounts, no masking of the
// child's output), and it never prints a secret value or the token.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
)

// version is what `op --version` prints; the suffix says this is not 1Password's binary.
const version = "2.0.0-op-kube-test-standin"

const usage = `op (op-kube test stand-in for 1Password's CLI)

Usage:
  op run [--no-masking] -- COMMAND [ARGS...]   resolve op:// references in the environment, then exec COMMAND
  op --version
`

func main() {
	os.Exit(runMain(os.Args[1:]))
}

func runMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "--version", "-v", "version":
		fmt.Println(version)
		return 0
	case "--help", "-h", "help":
		fmt.Print(usage)
		return 0
	case "run":
		return run(args[1:])
	default:
		return fail("unknown command %q; this stand-in only implements `op run` and `op --version`", args[0])
	}
}

func fail(format string, values ...any) int {
	fmt.Fprintf(os.Stderr, "[ERROR] op stand-in: "+format+"\n", values...)
	return 1
}

func run(args []string) int {
	var command []string
	for index, arg := range args {
		if arg == "--" {
			command = args[index+1:]
			break
		}
		switch arg {
		case "--no-masking":
			// The stand-in never masks (it execs the command instead of piping its output).
		default:
			return fail("op run: unsupported flag %q", arg)
		}
	}
	if len(command) == 0 {
		return fail("op run: no command given after --")
	}
	env, err := resolveEnvironment(os.Environ(), os.Getenv)
	if err != nil {
		return fail("%v", err)
	}
	path, err := exec.LookPath(command[0])
	if err != nil {
		return fail("op run: cannot find %q: %v", command[0], err)
	}
	err = syscall.Exec(path, command, env)
	return fail("op run: exec %q: %v", path, err)
}

// resolveEnvironment returns environ with every op:// value replaced by the secret it names.
// Items are fetched once per run even when several variables point into them.
func resolveEnvironment(environ []string, getenv func(string) string) ([]string, error) {
	var names []string
	refs := map[string]reference{}
	for _, entry := range environ {
		name, value, _ := strings.Cut(entry, "=")
		if !isReference(value) {
			continue
		}
		ref, err := parseReference(value)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %v", name, err)
		}
		names = append(names, name)
		refs[name] = ref
	}
	if len(names) == 0 {
		return environ, nil
	}
	sort.Strings(names)
	host, token := getenv("OP_CONNECT_HOST"), getenv("OP_CONNECT_TOKEN")
	if host == "" || token == "" {
		return nil, fmt.Errorf("%d variable(s) hold op:// references (%s) but OP_CONNECT_HOST and OP_CONNECT_TOKEN are not both set",
			len(names), strings.Join(names, ", "))
	}
	connect := newClient(host, token)
	vaults := map[string]vault{}
	items := map[[2]string]fullItem{}
	values := map[string]string{}
	for _, name := range names {
		ref := refs[name]
		where := fmt.Sprintf("variable %s (op://%s/%s/...)", name, ref.Vault, ref.Item)
		v, ok := vaults[ref.Vault]
		if !ok {
			found, err := connect.vault(ref.Vault)
			if err != nil {
				return nil, fmt.Errorf("%s: vault %q: %v", where, ref.Vault, err)
			}
			v, vaults[ref.Vault] = found, found
		}
		key := [2]string{v.ID, ref.Item}
		item, ok := items[key]
		if !ok {
			found, err := connect.item(v.ID, ref.Item)
			if err != nil {
				return nil, fmt.Errorf("%s: item %q in vault %q: %v", where, ref.Item, v.Name, err)
			}
			item, items[key] = found, found
		}
		value, err := fieldValue(item, ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		values[name] = value
	}
	resolved := make([]string, 0, len(environ))
	for _, entry := range environ {
		name, _, _ := strings.Cut(entry, "=")
		if value, ok := values[name]; ok {
			entry = name + "=" + value
		}
		resolved = append(resolved, entry)
	}
	return resolved, nil
}
