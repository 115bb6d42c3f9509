// The shell hooks printed by `tmuxtrail agent shell-hook bash|zsh`. Each command typed at an
// interactive prompt gives exactly one record, appended to <spool>/commands.log (which the agent
// tails, so an append never blocks the shell, works while the agent is down and survives its
// restarts): "v2", the pane, the line, the directory it started in, the exit status (empty when
// unknown: `exec bash`), start and end in epoch milliseconds, separated by 0x1F; %, CR, LF and
// 0x1F inside the line and the directory are written as %25, %0D, %0A and %1F. The spool is found
// in the environment or in tmux's global environment (TMUXTRAIL_SPOOL, set by the agent). How each
// shell finds a command's exact start, end and status is said at the top of its script;
// test/agent/shell-hook.test.ts types the cases into real panes. bash >= 4.4 (5.0 for
// microsecond timing without forking `date`), zsh >= 5.1.

export const SHELL_HOOKS: Record<"bash" | "zsh", string> = {
  bash: `# tmuxtrail: record each command typed at this prompt (bash >= 4.4)
# One record per command line: its text, the directory it started in, its exit status, start and
# end. Nothing is recorded for prompt hooks, completion, key bindings or an empty line. How:
#  - PS0, expanded once a line is read and before it runs, sets __tt_go and the start time;
#  - the first DEBUG trap after that begins the record. The line comes from the history, which
#    __tt_arm makes keep every line while it is typed whatever HISTCONTROL, HISTIGNORE or
#    HISTSIZE=0 say; __tt_disarm puts those back before the command runs and gives its entry the
#    fate they would have given it. (After \`set +o history\`, which no hook can undo, the line is
#    rebuilt from the simple commands that run.)
#  - the record ends at the first DEBUG trap bash runs for PROMPT_COMMAND, where $? is still the
#    command's status, whatever the order of PROMPT_COMMAND's entries: there HISTCMD is one more
#    than the prompt's history number (\\!), as bash counts the prompt as not executing.
#  - __tt_precmd in PROMPT_COMMAND ends a record the trap missed when another tool took the DEBUG
#    trap (bash-preexec does), takes the trap back with the other one chained after ours, and
#    keeps PS0 and itself in place.
# Each record is one append to <spool>/commands.log, which the agent tails.
if [[ -n "\${TMUX-}" && -n "\${TMUX_PANE-}" && -z "\${__tt_loaded-}" ]] &&
  ((BASH_VERSINFO[0] > 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] >= 4))); then
  __tt_loaded=1 __tt_x= __tt_go=0 __tt_run=0 __tt_busy=0 __tt_t0=0 __tt_t=0 __tt_line= __tt_rebuilt=0 __tt_cwd=
  __tt_sp= __tt_missed=0 __tt_prior= __tt_bang='\\!' __tt_saved= __tt_HC=tmuxtrail __tt_HI=$'\\001tmuxtrail'
  if [[ -n "\${EPOCHREALTIME-}" ]]; then
    __tt_ps0='\${__tt_x:$((__tt_go=1,__tt_t0=\${EPOCHREALTIME//[!0-9]/}/1000,0)):0}'
  else
    __tt_ps0='\${__tt_x:$((__tt_go=1,__tt_t0=0)):0}'
  fi
  __tt_now() {
    if [[ -n "\${EPOCHREALTIME-}" ]]; then __tt_t=$((\${EPOCHREALTIME//[!0-9]/} / 1000)); else __tt_t=$(date +%s%3N); fi
  }
  __tt_ret() { return "\${1:-0}"; }
  # True in a DEBUG trap that bash runs for PROMPT_COMMAND, false in one for a typed command.
  __tt_in_pc() {
    local b=\${__tt_bang@P}
    ((HISTCMD == b + 1))
  }
  # Until the next line is read: every line reaches the history (the user's settings are saved).
  __tt_arm() {
    if [[ -n "$__tt_saved" ]]; then return 0; fi
    __tt_saved="h\${HISTCONTROL+=$HISTCONTROL}"$'\\001'"\${HISTIGNORE+=$HISTIGNORE}"$'\\001'"\${HISTSIZE+=$HISTSIZE}"
    HISTCONTROL=$__tt_HC HISTIGNORE=$__tt_HI
    if [[ "\${HISTSIZE-}" == 0 ]]; then HISTSIZE=1; fi
  }
  # Puts back what __tt_arm changed (unless the user changed it meanwhile) and gives the history
  # entry of the line just read the fate the user's settings would have given it.
  __tt_disarm() {
    if [[ -z "$__tt_saved" ]]; then return 0; fi
    local s=\${__tt_saved#h} hc hi hs
    hc=\${s%%$'\\001'*} s=\${s#*$'\\001'} hi=\${s%%$'\\001'*} hs=\${s#*$'\\001'}
    __tt_saved=
    if [[ "\${HISTCONTROL-}" == "$__tt_HC" ]]; then
      if [[ -n "$hc" ]]; then HISTCONTROL=\${hc#=}; else unset HISTCONTROL; fi
    fi
    if [[ "\${HISTIGNORE-}" == "$__tt_HI" ]]; then
      if [[ -n "$hi" ]]; then HISTIGNORE=\${hi#=}; else unset HISTIGNORE; fi
    fi
    if [[ -n "\${HISTCONTROL-}\${HISTIGNORE-}" && -o history ]]; then
      builtin history -d "\${__tt_bang@P}" 2>/dev/null || :
      builtin history -s -- "$__tt_line" 2>/dev/null || :
    fi
    if [[ "$hs" == =0 && "\${HISTSIZE-}" == 1 ]]; then HISTSIZE=0; fi
  }
  __tt_begin() {
    __tt_go=0 __tt_run=1 __tt_cwd=$PWD
    if [[ "$__tt_t0" == 0 ]]; then __tt_now; __tt_t0=$__tt_t; fi
    local h n=\${__tt_bang@P}
    h=$(HISTTIMEFORMAT= builtin history 1)
    h=\${h#"\${h%%[! ]*}"}
    if [[ -o history && "\${h%%[!0-9]*}" == "$n" ]]; then
      __tt_line=\${h:\${#n}+2} __tt_rebuilt=0
    else
      # \`set +o history\`, which a prompt hook cannot undo: the line is rebuilt from the simple
      # commands bash runs (BASH_COMMAND), joined by "; ".
      __tt_line=$BASH_COMMAND __tt_rebuilt=1
    fi
    __tt_disarm
    if [[ "\${PROMPT_COMMAND[*]-}" != *__tt_precmd* ]]; then __tt_add_pc; fi
  }
  # Appends the record: v2, pane, line, cwd, exit, start ms, end ms; 0x1F between fields, and %,
  # CR, LF and 0x1F in the line and cwd written as %25, %0D, %0A, %1F.
  __tt_finish() {
    __tt_run=0
    __tt_now
    local l=$__tt_line c=$__tt_cwd f
    l=\${l//%/%25} l=\${l//$'\\r'/%0D} l=\${l//$'\\n'/%0A} l=\${l//$'\\037'/%1F}
    c=\${c//%/%25} c=\${c//$'\\r'/%0D} c=\${c//$'\\n'/%0A} c=\${c//$'\\037'/%1F}
    if [[ -n "\${TMUXTRAIL_SPOOL-}" ]]; then
      __tt_sp=$TMUXTRAIL_SPOOL
    elif [[ -z "$__tt_sp" || ! -d "$__tt_sp" ]]; then
      __tt_sp=$(tmux show-environment -g TMUXTRAIL_SPOOL 2>/dev/null) || __tt_sp=
      __tt_sp=\${__tt_sp#TMUXTRAIL_SPOOL=}
      if [[ "$__tt_sp" != /* ]]; then __tt_sp=; fi
    fi
    if [[ -n "$__tt_sp" ]]; then
      f=$__tt_sp/commands.log
      if [[ ! -e "$f" ]]; then (umask 077 && : >>"$f") 2>/dev/null || :; fi
      printf 'v2\\037%s\\037%s\\037%s\\037%s\\037%s\\037%s\\n' "$TMUX_PANE" "$l" "$c" "\${1-}" "$__tt_t0" "$__tt_t" 2>/dev/null >>"$f" || :
    fi
    __tt_t0=0
    __tt_arm
  }
  # A command that replaces the shell (\`exec bash\`, not \`exec 3>file\`) never reaches the prompt:
  # its record is written when it starts, with no exit status.
  __tt_replaces_shell() {
    [[ "$BASH_COMMAND" == exec[[:space:]]* ]] || return 1
    local w=\${BASH_COMMAND#exec}
    w=\${w#"\${w%%[![:space:]]*}"}
    [[ -n "$w" && "$w" != [\\<\\>\\&{]* && ! "$w" =~ ^[0-9]+[\\<\\>] ]]
  }
  __tt_debug() {
    local __tt_s=$? __tt_u=\${1-} __tt_rc=0
    if [[ "$__tt_busy" == 0 ]]; then
      __tt_busy=1
      if [[ "$__tt_go" == 1 ]]; then
        __tt_begin
        # Nothing of the line ran in this shell (a subshell like \`(exit 7)\`): it has ended.
        if __tt_in_pc; then __tt_finish "$__tt_s"; elif __tt_replaces_shell; then __tt_finish; fi
      elif [[ "$__tt_run" == 1 ]]; then
        if __tt_in_pc; then
          __tt_finish "$__tt_s"
        elif __tt_replaces_shell; then
          __tt_finish
        elif [[ "$__tt_rebuilt" == 1 && \${#__tt_line} -lt 4096 ]]; then
          __tt_line+="; $BASH_COMMAND"
        fi
      fi
      if [[ -n "$__tt_prior" ]]; then
        __tt_ret "$__tt_s"
        __tt_prior_trap "$__tt_u"
        __tt_rc=$?
      fi
      __tt_busy=0
    fi
    __tt_ret "$__tt_rc" "$__tt_u"
  }
  # Makes the DEBUG trap ours again, running the one another tool set after ours. bash shows a
  # function the DEBUG trap only with the trace attribute in every caller: nothing is done (false)
  # where it could be hidden, that is anywhere but at top level or from __tt_precmd run there.
  __tt_take_trap() {
    local t a f b=$__tt_busy
    for f in \${FUNCNAME[@]+"\${FUNCNAME[@]:1}"}; do
      if [[ "$f" != __tt_precmd && "$f" != source ]]; then return 1; fi
    done
    __tt_busy=1
    t=$(trap -p DEBUG)
    if [[ "$t" != *__tt_debug* ]]; then
      __tt_prior=
      if [[ -n "$t" ]]; then
        eval "a=($t)"
        __tt_prior=\${a[2]-}
        eval "__tt_prior_trap() {
\${__tt_prior:-:}
}"
      fi
      # bash-preexec runs the trap it found as a preexec function: ours would run twice.
      if [[ "$(declare -f __bp_original_debug_trap 2>/dev/null)" == *__tt_debug* && -n "\${preexec_functions+x}" ]]; then
        for f in "\${!preexec_functions[@]}"; do
          if [[ "\${preexec_functions[f]}" == __bp_original_debug_trap ]]; then unset -v 'preexec_functions[f]'; fi
        done
      fi
      trap '__tt_debug "$_"' DEBUG
    fi
    __tt_busy=$b
  }
  __tt_add_pc() {
    if [[ -n "\${PROMPT_COMMAND+x}" && "\${PROMPT_COMMAND@a}" == *a* ]]; then
      PROMPT_COMMAND=(__tt_precmd "\${PROMPT_COMMAND[@]}")
    else
      PROMPT_COMMAND="__tt_precmd\${PROMPT_COMMAND:+$'\\n'$PROMPT_COMMAND}"
    fi
  }
  __tt_precmd() {
    local __tt_s=$?
    if [[ "$__tt_go" == 1 || "$__tt_run" == 1 ]]; then
      # The DEBUG trap missed this command's end: another tool took the trap.
      if [[ "$__tt_go" == 1 ]]; then __tt_begin; fi
      __tt_finish "$__tt_s"
      __tt_missed=1
    fi
    if [[ "$__tt_missed" == 1 ]] && __tt_take_trap; then __tt_missed=0; fi
    if [[ "\${PS0-}" != *__tt_go=1* ]]; then PS0=$__tt_ps0\${PS0-}; fi
    # bash-preexec runs its precmd functions first, with $? as the command left it.
    if [[ -n "\${__bp_imported-}" && " \${precmd_functions[*]-} " != *" __tt_precmd "* ]]; then
      precmd_functions=(__tt_precmd \${precmd_functions[@]+"\${precmd_functions[@]}"})
    fi
    __tt_arm
    if [[ $- == *e* ]]; then return 0; fi
    return "$__tt_s"
  }
  declare -ft __tt_take_trap __tt_precmd
  __tt_take_trap
  __tt_add_pc
  PS0=$__tt_ps0\${PS0-}
fi
`,
  zsh: `# tmuxtrail: record each command typed at this prompt (zsh >= 5.1)
# One record per command line: its text as typed (preexec's $1, whatever the history options; the
# expanded text when the history is not kept at all), the directory it started in, its exit
# status, start and end. zsh gives every precmd hook the command's $?, so the other hooks may run
# before or after ours; empty lines and hooks never reach preexec. Each record is one append to
# <spool>/commands.log, which the agent tails.
if [[ -n "\${TMUX-}" && -n "\${TMUX_PANE-}" && -z "\${__tt_loaded-}" ]]; then
  typeset -g __tt_loaded=1 __tt_run=0 __tt_line= __tt_cwd= __tt_sp=
  typeset -gi __tt_t0=0 __tt_t=0
  zmodload -F zsh/datetime p:EPOCHREALTIME 2>/dev/null
  __tt_now() {
    if [[ -n "\${EPOCHREALTIME-}" ]]; then __tt_t=$(( EPOCHREALTIME * 1000 )); else __tt_t=$(date +%s%3N); fi
  }
  # Appends the record: v2, pane, line, cwd, exit, start ms, end ms; 0x1F between fields, and %,
  # CR, LF and 0x1F in the line and cwd written as %25, %0D, %0A, %1F.
  __tt_finish() {
    __tt_run=0
    __tt_now
    local l=$__tt_line c=$__tt_cwd f
    l=\${l//\\%/%25} l=\${l//$'\\r'/%0D} l=\${l//$'\\n'/%0A} l=\${l//$'\\037'/%1F}
    c=\${c//\\%/%25} c=\${c//$'\\r'/%0D} c=\${c//$'\\n'/%0A} c=\${c//$'\\037'/%1F}
    if [[ -n "\${TMUXTRAIL_SPOOL-}" ]]; then
      __tt_sp=$TMUXTRAIL_SPOOL
    elif [[ -z "$__tt_sp" || ! -d "$__tt_sp" ]]; then
      __tt_sp=$(tmux show-environment -g TMUXTRAIL_SPOOL 2>/dev/null) || __tt_sp=
      __tt_sp=\${__tt_sp#TMUXTRAIL_SPOOL=}
      [[ "$__tt_sp" == /* ]] || __tt_sp=
    fi
    if [[ -n "$__tt_sp" ]]; then
      f=$__tt_sp/commands.log
      [[ -e "$f" ]] || { (umask 077 && : >>"$f") } 2>/dev/null
      { printf 'v2\\037%s\\037%s\\037%s\\037%s\\037%s\\037%s\\n' "$TMUX_PANE" "$l" "$c" "\${1-}" "$__tt_t0" "$__tt_t" >>"$f" } 2>/dev/null
    fi
    return 0
  }
  __tt_preexec() {
    emulate -L zsh -o extended_glob
    __tt_now
    __tt_t0=$__tt_t __tt_run=1 __tt_cwd=$PWD __tt_line=\${1:-$3}
    # A command that replaces the shell (\`exec zsh\`) never reaches the prompt: recorded now, with
    # no exit status.
    local w=\${3#exec}
    if [[ "$3" == exec[[:space:]]* ]]; then
      w=\${w##[[:space:]]#}
      [[ -z "$w" || "$w" == [\\<\\>\\&{]* || "$w" == [0-9]##[\\<\\>]* ]] || __tt_finish
    fi
    return 0
  }
  __tt_precmd() {
    local __tt_s=$?
    emulate -L zsh
    if (( __tt_run )); then __tt_finish "$__tt_s"; fi
    return 0
  }
  autoload -Uz add-zsh-hook
  add-zsh-hook preexec __tt_preexec
  add-zsh-hook precmd __tt_precmd
fi
`,
};
