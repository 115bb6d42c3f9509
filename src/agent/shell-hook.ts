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
//
// Longer than most files: it is mostly the bash and zsh hook scripts themselves, as text, with the
// reasons for each line.

export const SHELL_HOOKS: Record<"bash" | "zsh", string> = {
  bash: `# tmuxtrail: record each command typed at this prompt (bash >= 4.4)
# One record per command line: its text, the directory it started in, its exit status, start and
# end. Nothing is recorded for prompt hooks, completion, key bindings or an empty line. How:
#  - A typed command begins at the first DEBUG trap outside PROMPT_COMMAND after a prompt. PS0,
#    expanded once a line is read and before it runs, also marks it (__tt_go) and notes the start
#    time, so a line that runs nothing in this shell, like \`(exit 7)\`, is seen too.
#  - The record ends at the first DEBUG trap bash runs for PROMPT_COMMAND, where $? is still the
#    command's status, whatever the order of PROMPT_COMMAND's entries: there HISTCMD is one more
#    than the prompt's history number (\\!), as bash counts the prompt as not executing.
#  - The line comes from the history, which __tt_arm makes keep every line while it is typed
#    whatever HISTCONTROL or HISTIGNORE say; __tt_disarm puts those back before the command runs
#    and gives its entry the fate they would have given it. (With \`set +o history\`, which no hook
#    can undo, HISTSIZE=0 or a read-only HISTCONTROL that drops the line, the line is rebuilt
#    from the simple commands that run.)
#  - __tt_precmd in PROMPT_COMMAND ends a record the trap missed when another tool took the DEBUG
#    trap (bash-preexec does), takes the trap back with the other one chained after ours, and
#    keeps PS0 and itself in place; so does sourcing this again.
# Each record is one append to <spool>/commands.log, which the agent tails.
if [[ -n "\${TMUX-}" && -n "\${TMUX_PANE-}" ]] &&
  ((BASH_VERSINFO[0] > 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] >= 4))); then
  if [[ -z "\${__tt_loaded-}" ]]; then
    __tt_loaded=1 __tt_x= __tt_go=0 __tt_run=0 __tt_fast=0 __tt_busy=0 __tt_t0=0 __tt_t=0 __tt_line=
    __tt_rebuilt=0 __tt_last= __tt_cwd= __tt_hc=-1 __tt_next=0 __tt_ps0ok=0 __tt_pcseen=0 __tt_sp=
    __tt_missed=1 __tt_ps=0 __tt_st=0 __tt_tp= __tt_prior= __tt_bang='\\!' __tt_cnum='\\#' __tt_saved= __tt_HC=tmuxtrail __tt_HI=$'\\001tmuxtrail'
    # ([^0-9], not [!0-9]: in POSIX mode a ! in a prompt string is the history number)
    if [[ -n "\${EPOCHREALTIME-}" ]]; then
      __tt_ps0='\${__tt_x:$((__tt_go=1,__tt_t0=\${EPOCHREALTIME//[^0-9]/}/1000,0)):0}'
    else
      __tt_ps0='\${__tt_x:$((__tt_go=1,__tt_t0=0)):0}'
    fi
    __tt_now() {
      if [[ -n "\${EPOCHREALTIME-}" ]]; then __tt_t=$((\${EPOCHREALTIME//[^0-9]/} / 1000)); else __tt_t=$(date +%s%3N); fi
    }
    __tt_ret() { return "\${1:-0}"; }
    # True in a DEBUG trap bash runs for PROMPT_COMMAND, false in one for a typed command. (While
    # the history holds at most one line, \\! is 1 in both: then HISTCMD is 1 in PROMPT_COMMAND
    # and in a command whose line was kept, so the first prompt (command number \\# 0) and a shell
    # without history tell them apart.)
    __tt_in_pc() {
      local b=\${__tt_bang@P} c
      if ((HISTCMD == b + 1)); then return 0; fi
      if ((HISTCMD != 1 || b != 1)); then return 1; fi
      c=\${__tt_cnum@P}
      [[ "$c" == 0 || ! -o history || "\${HISTSIZE-}" == 0 ]]
    }
    # Until the next line is read every line reaches the history (the user's settings are saved).
    __tt_arm() {
      __tt_next=$HISTCMD
      if [[ -n "$__tt_saved" ]]; then return 0; fi
      __tt_saved="h\${HISTCONTROL+=$HISTCONTROL}"$'\\001'"\${HISTIGNORE+=$HISTIGNORE}"
      if [[ -z "\${HISTCONTROL+x}" || "\${HISTCONTROL@a}" != *r* ]]; then HISTCONTROL=$__tt_HC; fi
      if [[ -z "\${HISTIGNORE+x}" || "\${HISTIGNORE@a}" != *r* ]]; then HISTIGNORE=$__tt_HI; fi
    }
    # Puts back what __tt_arm changed (unless the user changed it meanwhile) and gives the history
    # entry of the line just read the fate the user's settings would have given it.
    __tt_disarm() {
      if [[ -z "$__tt_saved" ]]; then return 0; fi
      local s=\${__tt_saved#h} hc hi
      hc=\${s%%$'\\001'*} hi=\${s#*$'\\001'}
      __tt_saved=
      if [[ "\${HISTCONTROL-}" == "$__tt_HC" ]]; then
        if [[ -n "$hc" ]]; then HISTCONTROL=\${hc#=}; else unset HISTCONTROL; fi
        # bash-preexec keeps ignorespace out of HISTCONTROL (it may have tried while we held it)
        if declare -F __bp_adjust_histcontrol >/dev/null; then __bp_adjust_histcontrol; fi
      fi
      if [[ "\${HISTIGNORE-}" == "$__tt_HI" ]]; then
        if [[ -n "$hi" ]]; then HISTIGNORE=\${hi#=}; else unset HISTIGNORE; fi
      fi
      if [[ "$__tt_rebuilt" == 0 && -n "\${HISTCONTROL-}\${HISTIGNORE-}" && "$HISTCMD" == "$__tt_next" ]]; then
        builtin history -d "$HISTCMD" 2>/dev/null || :
        builtin history -s -- "$__tt_line" 2>/dev/null || :
      fi
    }
    __tt_begin() {
      __tt_run=1 __tt_cwd=$PWD __tt_hc=$HISTCMD __tt_last=
      if [[ "$__tt_go" == 1 ]]; then __tt_ps0ok=1; fi
      if [[ "$__tt_go" == 0 || "$__tt_t0" == 0 ]]; then __tt_now; __tt_t0=$__tt_t; fi
      __tt_go=0
      local h n k=1
      # This line's history entries run from __tt_next to HISTCMD: one, or one per line of it
      # with cmdhist off. None: it was not kept.
      if [[ -o history && "\${HISTSIZE-}" != 0 ]] && ((__tt_next > 0 && HISTCMD >= __tt_next)); then
        if ! shopt -q cmdhist; then k=$((HISTCMD - __tt_next + 1)); fi
        if ((k > 1000)); then k=1000; fi
        h=$(HISTTIMEFORMAT= builtin history "$k")
        __tt_line= __tt_rebuilt=0
        while [[ -n "$h" ]]; do
          h=\${h#"\${h%%[! ]*}"}
          n=\${h%%[^0-9]*}
          h=\${h:\${#n}+2}
          if ((k == 1)); then __tt_line=$h; break; fi
          __tt_line+=\${__tt_line:+$'\\n'}\${h%%$'\\n'*}
          if [[ "$h" != *$'\\n'* ]]; then break; fi
          h=\${h#*$'\\n'}
        done
      else
        __tt_line=$BASH_COMMAND __tt_rebuilt=1 __tt_last=$BASH_COMMAND
        if __tt_in_pc; then __tt_line=; fi
      fi
      __tt_disarm
      __tt_ensure
      __tt_fast=1
      if [[ -n "$__tt_prior" || "$__tt_rebuilt" == 1 ]]; then __tt_fast=0; fi
    }
    # Appends the record: v2, pane, line, cwd, exit, start ms, end ms; 0x1F between fields, and %,
    # CR, LF and 0x1F in the line and cwd written as %25, %0D, %0A, %1F.
    __tt_finish() {
      __tt_run=0 __tt_fast=0
      __tt_now
      local LC_ALL=C l=$__tt_line c=$__tt_cwd f
      if [[ "$l" == *%* ]]; then l=\${l//%/%25}; fi
      if [[ "$l" == *$'\\r'* ]]; then l=\${l//$'\\r'/%0D}; fi
      if [[ "$l" == *$'\\n'* ]]; then l=\${l//$'\\n'/%0A}; fi
      if [[ "$l" == *$'\\037'* ]]; then l=\${l//$'\\037'/%1F}; fi
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
      __tt_ensure
    }
    # A command that ends this shell (\`exec bash\`, \`exit\`; not \`exec 3>file\`, nor an exec of a
    # program that does not exist) never reaches the prompt: its record is written when it starts,
    # with no exit status.
    __tt_ends_shell() {
      local w=$BASH_COMMAND v d
      while :; do
        v=\${w%%[[:space:]]*}
        case $v in
        command | builtin) ;;
        [A-Za-z_]*=*) if [[ "\${v%%=*}" == *[^A-Za-z0-9_]* ]]; then break; fi ;;
        *) break ;;
        esac
        w=\${w#"$v"}
        w=\${w#"\${w%%[^[:space:]]*}"}
      done
      case $w in
      exit | exit[[:space:]]* | logout | logout[[:space:]]*) return 0 ;;
      exec[[:space:]]*) ;;
      *) return 1 ;;
      esac
      w=\${w#exec}
      w=\${w#"\${w%%[^[:space:]]*}"}
      d=\${w%%[^0-9]*}
      if [[ -z "$w" || "$w" == [\\<\\>\\&{]* || "\${w:\${#d}:1}" == [\\<\\>] ]]; then return 1; fi
      [[ "$w" == -* ]] || type -P -- "\${w%%[[:space:]]*}" >/dev/null
    }
    __tt_debug() {
      local __tt_s=$__tt_st __tt_u=\${1-} __tt_rc=0
      if [[ "$__tt_busy" == 1 ]]; then return 0; fi
      if [[ "$BASHPID" == "$$" ]]; then
        __tt_busy=1
        if __tt_in_pc; then
          __tt_pcseen=1
          # Nothing of the line ran in this shell (a subshell like \`(exit 7)\`): it has ended. (With
          # PS0 not expanded, a line kept in the history since the prompt tells.)
          if [[ "$__tt_go" == 1 ]] || [[ "$__tt_run" == 0 && "$__tt_ps0ok" == 0 ]] && ((__tt_next > 0 && HISTCMD > __tt_next)); then
            __tt_begin
          fi
          if [[ "$__tt_run" == 1 ]]; then __tt_finish "$__tt_s"; fi
        else
          # A new line while the last one was never ended (it emptied PROMPT_COMMAND): end it.
          if [[ "$__tt_run" == 1 ]] && [[ "$__tt_go" == 1 || ("$__tt_ps0ok" == 0 && "$HISTCMD" != "$__tt_hc") ]]; then
            __tt_finish "$__tt_s"
          fi
          if [[ "$__tt_run" == 0 ]]; then
            if [[ "$__tt_go" == 1 || "$__tt_pcseen" == 1 ]]; then
              __tt_begin
              if __tt_ends_shell; then __tt_finish; fi
            fi
          elif __tt_ends_shell; then
            __tt_finish
          elif [[ "$__tt_rebuilt" == 1 && \${#FUNCNAME[@]} == 1 && \${#__tt_line} -lt 4096 && "$BASH_COMMAND" != "$__tt_last" ]]; then
            __tt_line+="; $BASH_COMMAND" __tt_last=$BASH_COMMAND
          fi
        fi
      fi
      # The other trap runs with $? as the command left it (in a condition: \`set -e\` must not
      # end the shell at a status that is only being passed on); ours is busy meanwhile (it may
      # call us back: bash-preexec runs the trap it found).
      __tt_busy=1
      if [[ -n "$__tt_prior" ]]; then
        if __tt_ret "$__tt_s"; __tt_prior_trap "$__tt_u"; then __tt_rc=0; else __tt_rc=$?; fi
      fi
      __tt_busy=0
      __tt_ret "$__tt_rc" "$__tt_u"
    }
    # Given \`trap -p DEBUG\`: true when the trap is not ours, after keeping the other one to run
    # after ours. bash shows a function the DEBUG trap only with the trace attribute in every
    # caller, so \`trap -p\` and \`trap\` run at top level (our PROMPT_COMMAND entry, this file), not
    # here. (No function of ours has the trace attribute: with one, \`set -e\` and another DEBUG
    # trap, bash 5.2 ends the shell with "pop_var_context".)
    __tt_adopt() {
      local a f
      if [[ "\${1-}" == *__tt_debug* ]]; then return 1; fi
      __tt_prior=
      if [[ -n "\${1-}" ]]; then
        eval "a=($1)"
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
      return 0
    }
    # The test before __tt_debug skips the simple commands of a record under way.
    __tt_trapcmd='__tt_st=$?; [[ $__tt_fast$__tt_go == 10 && \${HISTCMD-} == "$__tt_hc" && $BASH_COMMAND != *exec* && $BASH_COMMAND != *exit* && $BASH_COMMAND != logout* ]] || __tt_debug "$_"'
    __tt_retrap='__tt_tp=$(trap -p DEBUG); if __tt_adopt "$__tt_tp"; then trap -- "$__tt_trapcmd" DEBUG; fi'
    # Our PROMPT_COMMAND entry: __tt_precmd, the trap taken back at top level where it is
    # visible, then $? as the command left it for the entries after ours.
    __tt_pc='__tt_precmd; if [[ $__tt_missed == 1 ]]; then eval "$__tt_retrap"; __tt_missed=0; fi; __tt_ret "$__tt_ps"'
    __tt_add_pc() {
      if [[ -n "\${PROMPT_COMMAND+x}" && "\${PROMPT_COMMAND@a}" == *a* ]]; then
        PROMPT_COMMAND=("$__tt_pc" "\${PROMPT_COMMAND[@]}")
      else
        PROMPT_COMMAND="$__tt_pc\${PROMPT_COMMAND:+$'\\n'$PROMPT_COMMAND}"
      fi
    }
    __tt_ensure() {
      if [[ "\${PROMPT_COMMAND[*]-}" != *__tt_precmd* ]]; then __tt_add_pc; fi
      if [[ "\${PS0-}" != *__tt_go=1* ]]; then PS0=$__tt_ps0\${PS0-}; fi
    }
    __tt_precmd() {
      local __tt_s=$?
      __tt_busy=0 # a Ctrl-C inside __tt_debug cannot leave it set
      if [[ "$__tt_go" == 1 || "$__tt_run" == 1 ]]; then
        # The DEBUG trap missed this command's end: another tool took the trap.
        if [[ "$__tt_go" == 1 ]]; then __tt_begin; fi
        __tt_finish "$__tt_s"
        __tt_missed=1
      fi
      __tt_pcseen=1
      __tt_ensure
      # bash-preexec runs its precmd functions first, with $? as the command left it.
      if [[ -n "\${__bp_imported-}" && " \${precmd_functions[*]-} " != *" __tt_precmd "* ]]; then
        precmd_functions=(__tt_precmd \${precmd_functions[@]+"\${precmd_functions[@]}"})
      fi
      __tt_arm
      __tt_ps=$__tt_s
      if [[ $- == *e* ]]; then __tt_ps=0; fi
      return "$__tt_ps"
    }
  fi
  # Also when sourced again (a re-read rc that reset PROMPT_COMMAND, PS0 or the trap).
  eval "$__tt_retrap"
  __tt_ensure
fi
`,
  zsh: `# tmuxtrail: record each command typed at this prompt (zsh >= 5.1)
# One record per command line: its text as typed (preexec's $1, whatever the history options; the
# expanded text when the history is not kept at all), the directory it started in, its exit
# status, start and end. zsh gives every precmd hook the command's $?; ours is kept first so the
# end is not late by the other hooks' time. Empty lines and hooks never reach preexec. A line
# that ends the shell (\`exec zsh\`, \`exit\`) is recorded when it starts, with no exit status. Each
# record is one append to <spool>/commands.log, which the agent tails.
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
    local LC_ALL=C l=$__tt_line c=$__tt_cwd f
    if [[ "$l" == *%* ]]; then l=\${l//\\%/%25}; fi
    if [[ "$l" == *$'\\r'* ]]; then l=\${l//$'\\r'/%0D}; fi
    if [[ "$l" == *$'\\n'* ]]; then l=\${l//$'\\n'/%0A}; fi
    if [[ "$l" == *$'\\037'* ]]; then l=\${l//$'\\037'/%1F}; fi
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
      [[ -e "$f" ]] || { (umask 077 && : >>"$f"); } 2>/dev/null
      { printf 'v2\\037%s\\037%s\\037%s\\037%s\\037%s\\037%s\\n' "$TMUX_PANE" "$l" "$c" "\${1-}" "$__tt_t0" "$__tt_t" >>"$f"; } 2>/dev/null
    fi
    return 0
  }
  # Whether the line runs \`exec CMD\` (not \`exec 3>file\`) or \`exit\` in the shell itself, in any
  # command position: after ; && || | or a newline, past assignments and precommand modifiers.
  __tt_ends_shell() {
    local w start=1 next=0 depth=0
    for w in \${(z)1}; do
      if (( next )); then
        [[ "$w" == [\\<\\>\\&{]* || "$w" == [0-9]##[\\<\\>]* ]] || return 0
        next=0
      fi
      case $w in
      ('(') (( depth++ )); start=1; continue ;;
      (')') (( depth > 0 && depth-- )); continue ;;
      (';' | '&&' | '||' | '|' | '&' | $'\\n' | '{') start=1; continue ;;
      esac
      (( depth == 0 )) || continue
      if (( start )); then
        case $w in
        ([A-Za-z_]*=*) continue ;;
        (command | builtin | noglob | nocorrect | -) continue ;;
        (exit | logout) return 0 ;;
        (exec) next=1 ;;
        esac
        start=0
      fi
    done
    return 1
  }
  __tt_preexec() {
    local __tt_s=$?
    emulate -L zsh -o extended_glob
    # A line the precmd hook never saw end (another tool reset precmd_functions): end it now.
    if (( __tt_run )); then __tt_finish "$__tt_s"; fi
    if [[ \${precmd_functions[1]-} != __tt_precmd ]]; then
      precmd_functions=(__tt_precmd \${precmd_functions:#__tt_precmd})
    fi
    __tt_now
    __tt_t0=$__tt_t __tt_run=1 __tt_cwd=$PWD __tt_line=\${1:-$3}
    if __tt_ends_shell "$3"; then __tt_finish; fi
    return 0
  }
  __tt_precmd() {
    local __tt_s=$?
    emulate -L zsh
    if (( __tt_run )); then __tt_finish "$__tt_s"; fi
    return 0
  }
  __tt_install() {
    emulate -L zsh
    autoload -Uz add-zsh-hook
    add-zsh-hook preexec __tt_preexec
    precmd_functions=(__tt_precmd \${precmd_functions:#__tt_precmd})
  }
  __tt_install
fi
`,
};
