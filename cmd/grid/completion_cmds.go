package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Completion scripts call `grid ... --generate-bash-completion` (urfave/cli)
// for the words that may follow.
const bashCompletion = `# bash completion for grid: source <(grid completion bash)
_grid_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    opts=$( "${COMP_WORDS[@]:0:$COMP_CWORD}" "${cur}" --generate-bash-completion 2>/dev/null )
  else
    opts=$( "${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null )
  fi
  COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
  return 0
}
complete -o bashdefault -o default -F _grid_complete grid
`

const zshCompletion = `#compdef grid
# zsh completion for grid: grid completion zsh > "${fpath[1]}/_grid"
_grid() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _grid grid
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: grid completion bash|zsh",
		UsageText: "source <(grid completion bash)   or   grid completion zsh > \"${fpath[1]}/_grid\"",
		ArgsUsage: "bash|zsh",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("Error: give one shell: grid completion bash|zsh", exitUsage)
			}
			switch c.Args().First() {
			case "bash":
				fmt.Fprint(c.App.Writer, bashCompletion)
			case "zsh":
				fmt.Fprint(c.App.Writer, zshCompletion)
			default:
				return cli.Exit(fmt.Sprintf("Error: unknown shell %q: want bash or zsh", c.Args().First()), exitUsage)
			}
			return nil
		},
	}
}
