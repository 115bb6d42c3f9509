// The shell hooks printed by `tmuxtrail agent shell-hook bash|zsh`: after each command they append
// one record (pane, base64 command line, base64 cwd, exit status, start ms, end ms, separated by
// 0x1F) to <spool>/commands.log, which the agent tails. An append never blocks the shell, works
// while the agent is down and survives its restarts. The spool is found in tmux's global
// environment (TMUXTRAIL_SPOOL, set by the agent). Needs base64 and date from GNU coreutils.

const LOOKUP = `"\${TMUXTRAIL_SPOOL:-$(tmux show-environment -g TMUXTRAIL_SPOOL 2>/dev/null | sed -n 's/^TMUXTRAIL_SPOOL=//p')}"`;
const RECORD = `printf '%s\\037%s\\037%s\\037%s\\037%s\\037%s\\n' "$TMUX_PANE" "$(printf %s "$__tt_cmd" | base64 -w0)" "$(printf %s "$PWD" | base64 -w0)" "$__tt_status" "$__tt_start" "$(date +%s%3N)" >> "$__tt_spool/commands.log"`;

export const SHELL_HOOKS: Record<"bash" | "zsh", string> = {
  bash: `# tmuxtrail: record each command line, cwd, exit status and timing (bash)
if [ -n "$TMUX" ] && [ -n "$TMUX_PANE" ]; then
  __tt_preexec() {
    case "$BASH_COMMAND" in __tt_*) return ;; esac
    [ -n "$__tt_running" ] && return
    __tt_running=1
    __tt_cmd=$(HISTTIMEFORMAT= builtin history 1 | sed 's/^ *[0-9]* *//')
    __tt_start=$(date +%s%3N)
  }
  __tt_precmd() {
    __tt_status=$?
    if [ -n "$__tt_running" ]; then
      __tt_spool=${LOOKUP}
      [ -n "$__tt_spool" ] && ${RECORD}
    fi
    __tt_running=
  }
  trap '__tt_preexec' DEBUG
  PROMPT_COMMAND="__tt_precmd\${PROMPT_COMMAND:+; $PROMPT_COMMAND}"
fi
`,
  zsh: `# tmuxtrail: record each command line, cwd, exit status and timing (zsh)
if [[ -n "$TMUX" && -n "$TMUX_PANE" ]]; then
  __tt_preexec() { __tt_cmd="$1"; __tt_start=$(date +%s%3N); __tt_running=1 }
  __tt_precmd() {
    __tt_status=$?
    if [[ -n "$__tt_running" ]]; then
      __tt_spool=${LOOKUP}
      [[ -n "$__tt_spool" ]] && ${RECORD}
    fi
    __tt_running=
  }
  autoload -Uz add-zsh-hook
  add-zsh-hook preexec __tt_preexec
  add-zsh-hook precmd __tt_precmd
fi
`,
};
