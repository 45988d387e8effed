package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/gridctl/grid/cmd/grid/config"
	"github.com/urfave/cli/v2"
)

// Environment variables: a process role's flags are GRID_<ROLE>_<FLAG>
// (GRID_MASTER_DATA_DIR, GRID_AGENT_DATA_DIR), so a master and an agent on
// one machine never read each other's settings; client commands read
// GRID_<FLAG> (GRID_MASTER for --master, GRID_API_TOKEN, GRID_TLS_CA).

// envName is the variable of flag name for role ("" for client commands).
func envName(role, name string) string {
	up := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if role == "" {
		return "GRID_" + up
	}
	return "GRID_" + strings.ToUpper(role) + "_" + up
}

// withRoleEnv gives every flag its role's environment variable.
func withRoleEnv(role string, flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		env := []string{envName(role, f.Names()[0])}
		switch ff := f.(type) {
		case *cli.StringFlag:
			ff.EnvVars = env
		case *cli.StringSliceFlag:
			ff.EnvVars = env
		case *cli.IntFlag:
			ff.EnvVars = env
		case *cli.Int64Flag:
			ff.EnvVars = env
		case *cli.Uint64Flag:
			ff.EnvVars = env
		case *cli.Float64Flag:
			ff.EnvVars = env
		case *cli.BoolFlag:
			ff.EnvVars = env
		case *cli.DurationFlag:
			ff.EnvVars = env
		}
	}
	return flags
}

// schemaOf is the config-file schema of a command: every flag but --config
// (and --help), keyed by its name with _ for -.
func schemaOf(flags []cli.Flag) config.Schema {
	s := config.Schema{}
	for _, f := range flags {
		name := f.Names()[0]
		if name == "config" || name == "help" {
			continue
		}
		kind := config.String
		switch f.(type) {
		case *cli.StringSliceFlag:
			kind = config.List
		case *cli.IntFlag, *cli.Int64Flag:
			kind = config.Int
		case *cli.Uint64Flag:
			kind = config.Uint
		case *cli.Float64Flag:
			kind = config.Float
		case *cli.BoolFlag:
			kind = config.Bool
		case *cli.DurationFlag:
			kind = config.Duration
		}
		s[strings.ReplaceAll(name, "-", "_")] = kind
	}
	return s
}

// configFiles are the HCL/JSON files named by --config (directories
// expanded); .toml files are left to the caller (legacy formats).
func configFiles(c *cli.Context) (hclFiles, tomlFiles []string, err error) {
	var paths []string
	for _, p := range c.StringSlice("config") {
		if strings.HasSuffix(p, ".toml") {
			tomlFiles = append(tomlFiles, p)
		} else {
			paths = append(paths, p)
		}
	}
	hclFiles, err = config.Files(paths)
	return hclFiles, tomlFiles, err
}

// readConfigValues reads the --config files into values by key.
func readConfigValues(c *cli.Context, flags []cli.Flag, legacyTOML bool) (config.Values, error) {
	files, tomls, err := configFiles(c)
	if err != nil {
		return nil, err
	}
	schema := schemaOf(flags)
	vals := config.Values{}
	if legacyTOML {
		for _, p := range tomls {
			if err := readFlatTOML(p, schema, vals); err != nil {
				return nil, err
			}
		}
	}
	more, err := config.Load(files, schema)
	if err != nil {
		return nil, err
	}
	for k, v := range more {
		vals[k] = v
	}
	return vals, nil
}

// applyConfig is a command's Before: it reads --config and sets every flag
// not given on the command line or in the environment (flags win). With
// legacyTOML a .toml file is the old flat format keyed by flag names.
func applyConfig(flags []cli.Flag, legacyTOML bool) cli.BeforeFunc {
	return func(c *cli.Context) error {
		vals, err := readConfigValues(c, flags, legacyTOML)
		if err != nil {
			return cli.Exit("Error: config: "+err.Error(), 2)
		}
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fromFiles := map[string]bool{}
		for _, k := range keys {
			name, v := strings.ReplaceAll(k, "_", "-"), vals[k]
			if c.IsSet(name) {
				continue
			}
			fromFiles[k] = true
			items := []string{v.Text}
			if v.Items != nil && isSliceFlag(flags, name) {
				items = v.Items
			}
			for _, it := range items {
				if err := c.Set(name, it); err != nil {
					return cli.Exit(fmt.Sprintf("Error: config: %s: key %q: %v", v.Where, k, err), 2)
				}
			}
		}
		if c.App.Metadata == nil {
			c.App.Metadata = map[string]any{}
		}
		c.App.Metadata[fileKeysMeta] = fromFiles
		return nil
	}
}

// fileKeysMeta is the App.Metadata entry holding the keys set from files.
const fileKeysMeta = "config_file_keys"

// setFromFile reports whether key (flag name with _) came from a file.
func setFromFile(c *cli.Context, key string) bool {
	m, _ := c.App.Metadata[fileKeysMeta].(map[string]bool)
	return m[key]
}

func isSliceFlag(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		if _, ok := f.(*cli.StringSliceFlag); ok && f.Names()[0] == name {
			return true
		}
	}
	return false
}

// readFlatTOML reads the masters' old flat TOML (keys = flag names).
func readFlatTOML(path string, schema config.Schema, out config.Values) error {
	var values map[string]any
	if _, err := toml.DecodeFile(path, &values); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	for k, v := range values {
		key := strings.ReplaceAll(k, "-", "_")
		if _, ok := schema[key]; !ok {
			return fmt.Errorf("%s: unknown key %q", path, k)
		}
		val := config.Value{Where: filepath.Clean(path)}
		if list, ok := v.([]any); ok {
			for _, p := range list {
				val.Items = append(val.Items, fmt.Sprint(p))
			}
			val.Text = strings.Join(val.Items, ",")
		} else {
			val.Text = fmt.Sprint(v)
		}
		out[key] = val
	}
	return nil
}

// secretFlags are --<name> and --<name>-file for a secret; Usage is the
// secret's description.
func secretFlags(name, usage string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: name, Usage: usage + " (prefer --" + name + "-file: flags show in ps)"},
		&cli.StringFlag{Name: name + "-file", Usage: "file holding --" + name + " (not world-readable)"},
	}
}

// secret is the value of --name or --name-file (both is a usage error).
func secret(c *cli.Context, name string) (string, error) {
	v, path := c.String(name), c.String(name+"-file")
	if path == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("--%s and --%s-file are both set: give one", name, name)
	}
	return config.ReadSecretFile(name+"-file", path)
}

// resolveAddrFlags replaces go-sockaddr templates in the named flags.
func resolveAddrFlags(c *cli.Context, names ...string) error {
	for _, n := range names {
		v := c.String(n)
		if !strings.Contains(v, "{{") {
			continue
		}
		out, err := config.ParseTemplate(n, v)
		if err != nil {
			return err
		}
		if err := c.Set(n, out); err != nil {
			return err
		}
	}
	return nil
}
