# bash completion for tailquant (installed to share/bash-completion/completions/tailquant)
_tailquant() {
  local cur prev verb
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  verb=${COMP_WORDS[1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "train report devices bench tune quantize --help --version" -- "$cur"))
    return
  fi
  case $prev in
    --method)
      # the method table, as the program lists it (quantize --help), so this never goes stale
      local methods
      methods=$("${COMP_WORDS[0]}" quantize --help 2>&1 | awk '/^Methods/ {on = 1; next} on && NF {print $1}')
      COMPREPLY=($(compgen -W "$methods all" -- "$cur")); return ;;
    --bits) COMPREPLY=($(compgen -W "1 2 3 4 5 6 7 8" -- "$cur")); return ;;
    --device) COMPREPLY=($(compgen -W "auto cpu gpu" -- "$cur")); return ;;
    --transport) COMPREPLY=($(compgen -W "inproc mpi" -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "md csv json" -- "$cur")); return ;;
    --tail) COMPREPLY=($(compgen -W "powerlaw laplace" -- "$cur")); return ;;
    --alpha-rule) COMPREPLY=($(compgen -W "bound truevar" -- "$cur")); return ;;
    --resume|--curves) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --model|--out|--hist) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --set|--stop-after|--dump-gradients|--seed|--bucket|--batch|--seconds|--minutes) return ;;
  esac
  local opts=""
  case $verb in
    train) opts="--set --device --quiet --resume --stop-after --dump-gradients --profile --transport --help" ;;
    report) opts="--format --out --curves --help" ;;
    quantize) opts="--method --bits --bucket --seed --tail --alpha-rule --zero-level --device --hist --help" ;;
    bench) [ "$COMP_CWORD" -eq 2 ] && { COMPREPLY=($(compgen -W "train step quant" -- "$cur")); return; }
           opts="--model --batch --seconds --device --profile --method --help" ;;
    tune) opts="--device --model --batch --minutes --dry-run --help" ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _tailquant tailquant
