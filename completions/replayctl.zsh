#compdef replayctl

autoload -U is-at-least

_replayctl() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_replayctl_commands" \
"*::: :->replayctl" \
&& ret=0
    case $state in
    (replayctl)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-command-$line[1]:"
        case $line[1] in
            (migrate)
_arguments "${_arguments_options[@]}" : \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(tenant)
_arguments "${_arguments_options[@]}" : \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_replayctl__subcmd__tenant_commands" \
"*::: :->tenant" \
&& ret=0

    case $state in
    (tenant)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-tenant-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':name:_default' \
&& ret=0
;;
(limits)
_arguments "${_arguments_options[@]}" : \
'--requests-per-minute=[API requests per minute (0\: none; \`default\`\: the deployment'\''s default)]:REQUESTS_PER_MINUTE:_default' \
'--max-active-jobs=[Active replay jobs at once (0\: none; \`default\`\: the deployment'\''s default)]:MAX_ACTIVE_JOBS:_default' \
'--max-running-slices=[Slices running at once across all the tenant'\''s jobs (0\: none; \`default\`\: the deployment'\''s default)]:MAX_RUNNING_SLICES:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':tenant:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__tenant__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-tenant-help-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(limits)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(key)
_arguments "${_arguments_options[@]}" : \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_replayctl__subcmd__key_commands" \
"*::: :->key" \
&& ret=0

    case $state in
    (key)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-key-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
'--tenant=[]:TENANT:_default' \
'--read-only[A key that may only read\: webhooks, job status and lists, failure reports]' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(revoke)
_arguments "${_arguments_options[@]}" : \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':key_id:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__key__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-key-help-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(revoke)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(rotate-secret)
_arguments "${_arguments_options[@]}" : \
'--grace-seconds=[How long deliveries carry the old secret'\''s signature too, in seconds]:GRACE_SECONDS:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':webhook_id:_default' \
&& ret=0
;;
(webhook)
_arguments "${_arguments_options[@]}" : \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_replayctl__subcmd__webhook_commands" \
"*::: :->webhook" \
&& ret=0

    case $state in
    (webhook)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-webhook-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
'--id=[The platform'\''s own id for it (the key its delivery log uses)]:ID:_default' \
'(--secret-raw-env)--secret-env=[The variable holding the secret in Standard Webhooks form (\`whsec_\` + base64)]:VAR:_default' \
'--secret-raw-env=[The variable holding a raw key, its bytes used as they are]:VAR:_default' \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':url:_default' \
&& ret=0
;;
(get)
_arguments "${_arguments_options[@]}" : \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':id:_default' \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
'--cursor=[\`next_cursor\` of the previous page]:CURSOR:_default' \
'--limit=[Items per page (the list'\''s default when absent)]:LIMIT:_default' \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'(--cursor --limit)--all[Every page, one after the other, as one list]' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(update)
_arguments "${_arguments_options[@]}" : \
'--url=[]:URL:_default' \
'(--secret-raw-env)--secret-env=[The variable holding the secret in Standard Webhooks form (\`whsec_\` + base64)]:VAR:_default' \
'--secret-raw-env=[The variable holding a raw key, its bytes used as they are]:VAR:_default' \
'--grace-seconds=[With a new secret\: how long the old one keeps signing beside it (seconds; the service'\''s default is a day)]:GRACE_SECONDS:_default' \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':id:_default' \
&& ret=0
;;
(delete)
_arguments "${_arguments_options[@]}" : \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':id:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__webhook__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-webhook-help-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(get)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(update)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(delete)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(replay)
_arguments "${_arguments_options[@]}" : \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_replayctl__subcmd__replay_commands" \
"*::: :->replay" \
&& ret=0

    case $state in
    (replay)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-replay-command-$line[1]:"
        case $line[1] in
            (start)
_arguments "${_arguments_options[@]}" : \
'--from=[]:FROM:_default' \
'--to=[]:TO:_default' \
'*--event-type=[Only events of this type (repeat for several, up to 50)]:TYPE:_default' \
'*--event-id=[Only this event (repeat for several, up to 1,000)]:ID:_default' \
'--only=[\`failed\`\: only events whose original delivery failed]:ONLY:(failed)' \
'--target=[Deliver to this other webhook of the tenant (its URL, its secret)]:WEBHOOK_ID:_default' \
'--max-in-flight=[The job'\''s requests in flight at most, across its slices]:N:_default' \
'--max-events-per-second=[The job'\''s request starts per second at most, across its slices]:N:_default' \
'--ordering-key=[Deliver in log order per key\: a JSON Pointer into each event'\''s payload (for example /account_id); keys run concurrently]:POINTER:_default' \
'--idempotency-key=[Makes the request safe to repeat (generated when absent)]:IDEMPOTENCY_KEY:_default' \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--dry-run[Count what would be delivered, deliver nothing]' \
'--crc-check[Check the receiver (Twitter'\''s CRC) before the first delivery]' \
'--wait[Follow the job until it ends (as \`watch\`)]' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':webhook_id:_default' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':job_id:_default' \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
'*--state=[Only jobs in these states (\`--state ONGOING,OPEN\`)]:STATE:_default' \
'--cursor=[\`next_cursor\` of the previous page]:CURSOR:_default' \
'--limit=[Items per page (the list'\''s default when absent)]:LIMIT:_default' \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'(--cursor --limit)--all[Every page, one after the other, as one list]' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
'::webhook_id -- Only this webhook'\''s jobs:_default' \
&& ret=0
;;
(cancel)
_arguments "${_arguments_options[@]}" : \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':job_id:_default' \
&& ret=0
;;
(pause)
_arguments "${_arguments_options[@]}" : \
'--reason=[Shown in the job'\''s \`pause.reason\`]:REASON:_default' \
'--expires-in=[Not resumed within this many seconds, the job ends INCOMPLETE (default\: the deployment'\''s maximum)]:SECONDS:_default' \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':job_id:_default' \
&& ret=0
;;
(resume)
_arguments "${_arguments_options[@]}" : \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':job_id:_default' \
&& ret=0
;;
(watch)
_arguments "${_arguments_options[@]}" : \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':job_id:_default' \
&& ret=0
;;
(failures)
_arguments "${_arguments_options[@]}" : \
'--csv=[]:FILE:_files' \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':job_id:_default' \
&& ret=0
;;
(retry)
_arguments "${_arguments_options[@]}" : \
'--api-url=[The API'\''s base URL\: the stack'\''s ApiUrl output (\`make up\` prints the local one)]:API_URL:_default' \
'--api-key=[]:API_KEY:_default' \
'--wait[Follow the new job until it ends]' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':job_id:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__replay__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-replay-help-command-$line[1]:"
        case $line[1] in
            (start)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(cancel)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(pause)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(resume)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(watch)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(failures)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(retry)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(logs)
_arguments "${_arguments_options[@]}" : \
'--stack=[The stack (its log groups are /activity-replay/<stack>/{api,worker,sweeper})]:STACK:_default' \
'--hours=[How far back to look, in hours]:HOURS:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':job_id:_default' \
&& ret=0
;;
(audit)
_arguments "${_arguments_options[@]}" : \
'--tenant=[Only this tenant'\''s rows]:TENANT:_default' \
'--limit=[]:LIMIT:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(dlq)
_arguments "${_arguments_options[@]}" : \
'--stack=[The stack whose queues these are]:STACK:_default' \
'--dlq-url=[The dead-letter queue'\''s URL (the stack'\''s SliceDeadLetterQueueUrl output), instead of finding it]:DLQ_URL:_default' \
'--queue-url=[The slice queue'\''s URL (the stack'\''s SliceQueueUrl output), instead of finding it]:QUEUE_URL:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_replayctl__subcmd__dlq_commands" \
"*::: :->dlq" \
&& ret=0

    case $state in
    (dlq)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-dlq-command-$line[1]:"
        case $line[1] in
            (show)
_arguments "${_arguments_options[@]}" : \
'--stack=[The stack whose queues these are]:STACK:_default' \
'--dlq-url=[The dead-letter queue'\''s URL (the stack'\''s SliceDeadLetterQueueUrl output), instead of finding it]:DLQ_URL:_default' \
'--queue-url=[The slice queue'\''s URL (the stack'\''s SliceQueueUrl output), instead of finding it]:QUEUE_URL:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(redrive)
_arguments "${_arguments_options[@]}" : \
'--stack=[The stack whose queues these are]:STACK:_default' \
'--dlq-url=[The dead-letter queue'\''s URL (the stack'\''s SliceDeadLetterQueueUrl output), instead of finding it]:DLQ_URL:_default' \
'--queue-url=[The slice queue'\''s URL (the stack'\''s SliceQueueUrl output), instead of finding it]:QUEUE_URL:_default' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__dlq__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-dlq-help-command-$line[1]:"
        case $line[1] in
            (show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(redrive)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(index)
_arguments "${_arguments_options[@]}" : \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_replayctl__subcmd__index_commands" \
"*::: :->index" \
&& ret=0

    case $state in
    (index)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-index-command-$line[1]:"
        case $line[1] in
            (status)
_arguments "${_arguments_options[@]}" : \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(rebuild)
_arguments "${_arguments_options[@]}" : \
'--partition=[]:PARTITION:_default' \
'--drop-only[Only delete it\: the sweeper'\''s runs index the log again]' \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__index__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-index-help-command-$line[1]:"
        case $line[1] in
            (status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rebuild)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'--json[Print machine-readable JSON (one document; NDJSON for \`logs\`)]' \
'-h[Print help]' \
'--help[Print help]' \
':shell:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-help-command-$line[1]:"
        case $line[1] in
            (migrate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(tenant)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__help__subcmd__tenant_commands" \
"*::: :->tenant" \
&& ret=0

    case $state in
    (tenant)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-help-tenant-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(limits)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(key)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__help__subcmd__key_commands" \
"*::: :->key" \
&& ret=0

    case $state in
    (key)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-help-key-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(revoke)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(rotate-secret)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(webhook)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__help__subcmd__webhook_commands" \
"*::: :->webhook" \
&& ret=0

    case $state in
    (webhook)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-help-webhook-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(get)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(update)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(delete)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(replay)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__help__subcmd__replay_commands" \
"*::: :->replay" \
&& ret=0

    case $state in
    (replay)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-help-replay-command-$line[1]:"
        case $line[1] in
            (start)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(cancel)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(pause)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(resume)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(watch)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(failures)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(retry)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(logs)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(audit)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(dlq)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__help__subcmd__dlq_commands" \
"*::: :->dlq" \
&& ret=0

    case $state in
    (dlq)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-help-dlq-command-$line[1]:"
        case $line[1] in
            (show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(redrive)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(index)
_arguments "${_arguments_options[@]}" : \
":: :_replayctl__subcmd__help__subcmd__index_commands" \
"*::: :->index" \
&& ret=0

    case $state in
    (index)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:replayctl-help-index-command-$line[1]:"
        case $line[1] in
            (status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rebuild)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_replayctl_commands] )) ||
_replayctl_commands() {
    local commands; commands=(
'migrate:Apply the SQL migrations in migrations/ (run at deploy, never at cold start), then seal any plaintext webhook secret an earlier release left (needs WEBHOOK_SECRETS_KEY_ID only then)' \
'tenant:Tenants (operator)' \
'key:API keys (operator)' \
'rotate-secret:Replace a webhook'\''s signing secret (operator; prints the new secret once). The old one keeps signing beside it for the grace period' \
'webhook:Webhooks, through the HTTP API' \
'replay:Replay jobs, through the HTTP API' \
'logs:A job'\''s log lines from the API, worker and sweeper functions, in time order' \
'audit:The audit trail\: who created, changed, cancelled or deleted what (newest first)' \
'dlq:The slice queue'\''s dead-letter queue\: what is in it, and moving it back' \
'index:The delivery log'\''s index (operator; DATABASE_URL, KAFKA_BROKERS and DELIVERY_LOG_TOPIC, as the functions have them)' \
'completions:Print a shell completion script (bash, zsh, fish, elvish, powershell)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__audit_commands] )) ||
_replayctl__subcmd__audit_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl audit commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__completions_commands] )) ||
_replayctl__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl completions commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__dlq_commands] )) ||
_replayctl__subcmd__dlq_commands() {
    local commands; commands=(
'show:List the messages in the DLQ (they stay there)' \
'redrive:Move every message back to the slice queue (after fixing what failed them)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl dlq commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__dlq__subcmd__help_commands] )) ||
_replayctl__subcmd__dlq__subcmd__help_commands() {
    local commands; commands=(
'show:List the messages in the DLQ (they stay there)' \
'redrive:Move every message back to the slice queue (after fixing what failed them)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl dlq help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__dlq__subcmd__help__subcmd__help_commands] )) ||
_replayctl__subcmd__dlq__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl dlq help help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__dlq__subcmd__help__subcmd__redrive_commands] )) ||
_replayctl__subcmd__dlq__subcmd__help__subcmd__redrive_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl dlq help redrive commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__dlq__subcmd__help__subcmd__show_commands] )) ||
_replayctl__subcmd__dlq__subcmd__help__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl dlq help show commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__dlq__subcmd__redrive_commands] )) ||
_replayctl__subcmd__dlq__subcmd__redrive_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl dlq redrive commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__dlq__subcmd__show_commands] )) ||
_replayctl__subcmd__dlq__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl dlq show commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help_commands] )) ||
_replayctl__subcmd__help_commands() {
    local commands; commands=(
'migrate:Apply the SQL migrations in migrations/ (run at deploy, never at cold start), then seal any plaintext webhook secret an earlier release left (needs WEBHOOK_SECRETS_KEY_ID only then)' \
'tenant:Tenants (operator)' \
'key:API keys (operator)' \
'rotate-secret:Replace a webhook'\''s signing secret (operator; prints the new secret once). The old one keeps signing beside it for the grace period' \
'webhook:Webhooks, through the HTTP API' \
'replay:Replay jobs, through the HTTP API' \
'logs:A job'\''s log lines from the API, worker and sweeper functions, in time order' \
'audit:The audit trail\: who created, changed, cancelled or deleted what (newest first)' \
'dlq:The slice queue'\''s dead-letter queue\: what is in it, and moving it back' \
'index:The delivery log'\''s index (operator; DATABASE_URL, KAFKA_BROKERS and DELIVERY_LOG_TOPIC, as the functions have them)' \
'completions:Print a shell completion script (bash, zsh, fish, elvish, powershell)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__audit_commands] )) ||
_replayctl__subcmd__help__subcmd__audit_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help audit commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__completions_commands] )) ||
_replayctl__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help completions commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__dlq_commands] )) ||
_replayctl__subcmd__help__subcmd__dlq_commands() {
    local commands; commands=(
'show:List the messages in the DLQ (they stay there)' \
'redrive:Move every message back to the slice queue (after fixing what failed them)' \
    )
    _describe -t commands 'replayctl help dlq commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__dlq__subcmd__redrive_commands] )) ||
_replayctl__subcmd__help__subcmd__dlq__subcmd__redrive_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help dlq redrive commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__dlq__subcmd__show_commands] )) ||
_replayctl__subcmd__help__subcmd__dlq__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help dlq show commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__help_commands] )) ||
_replayctl__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__index_commands] )) ||
_replayctl__subcmd__help__subcmd__index_commands() {
    local commands; commands=(
'status:Per partition\: the log'\''s retained offsets, where the index ends, and its lag' \
'rebuild:Delete the index (of one partition, or all) and index the log again from its start, here; slices read in full meanwhile' \
    )
    _describe -t commands 'replayctl help index commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__index__subcmd__rebuild_commands] )) ||
_replayctl__subcmd__help__subcmd__index__subcmd__rebuild_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help index rebuild commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__index__subcmd__status_commands] )) ||
_replayctl__subcmd__help__subcmd__index__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help index status commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__key_commands] )) ||
_replayctl__subcmd__help__subcmd__key_commands() {
    local commands; commands=(
'create:Add an API key to a tenant (rotation\: create the new one, then revoke the old)' \
'revoke:Revoke a key by its id (the hex part after \`rk_\`)' \
    )
    _describe -t commands 'replayctl help key commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__key__subcmd__create_commands] )) ||
_replayctl__subcmd__help__subcmd__key__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help key create commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__key__subcmd__revoke_commands] )) ||
_replayctl__subcmd__help__subcmd__key__subcmd__revoke_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help key revoke commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__logs_commands] )) ||
_replayctl__subcmd__help__subcmd__logs_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help logs commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__migrate_commands] )) ||
_replayctl__subcmd__help__subcmd__migrate_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help migrate commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__replay_commands] )) ||
_replayctl__subcmd__help__subcmd__replay_commands() {
    local commands; commands=(
'start:Start a replay of \[from, to) (RFC 3339), optionally of some of its events' \
'status:' \
'list:Jobs newest first, the tenant'\''s or one webhook'\''s\: one page (\`--cursor\`, \`--limit\`), or all of them' \
'cancel:' \
'pause:Pause a job\: running slices stop at their next checkpoint; \`resume\` continues it' \
'resume:Resume a paused job from its checkpoints' \
'watch:Follow a job until it ends\: a progress bar on a terminal, a line every 5 s otherwise' \
'failures:The events a job could not deliver (all of them; \`--csv FILE\` to write them as CSV)' \
'retry:Start a job that delivers exactly the failures of an ended job' \
    )
    _describe -t commands 'replayctl help replay commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__replay__subcmd__cancel_commands] )) ||
_replayctl__subcmd__help__subcmd__replay__subcmd__cancel_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help replay cancel commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__replay__subcmd__failures_commands] )) ||
_replayctl__subcmd__help__subcmd__replay__subcmd__failures_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help replay failures commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__replay__subcmd__list_commands] )) ||
_replayctl__subcmd__help__subcmd__replay__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help replay list commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__replay__subcmd__pause_commands] )) ||
_replayctl__subcmd__help__subcmd__replay__subcmd__pause_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help replay pause commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__replay__subcmd__resume_commands] )) ||
_replayctl__subcmd__help__subcmd__replay__subcmd__resume_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help replay resume commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__replay__subcmd__retry_commands] )) ||
_replayctl__subcmd__help__subcmd__replay__subcmd__retry_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help replay retry commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__replay__subcmd__start_commands] )) ||
_replayctl__subcmd__help__subcmd__replay__subcmd__start_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help replay start commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__replay__subcmd__status_commands] )) ||
_replayctl__subcmd__help__subcmd__replay__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help replay status commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__replay__subcmd__watch_commands] )) ||
_replayctl__subcmd__help__subcmd__replay__subcmd__watch_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help replay watch commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__rotate-secret_commands] )) ||
_replayctl__subcmd__help__subcmd__rotate-secret_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help rotate-secret commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__tenant_commands] )) ||
_replayctl__subcmd__help__subcmd__tenant_commands() {
    local commands; commands=(
'create:Create a tenant and its first API key (shown once)' \
'limits:Show a tenant'\''s fair-share overrides, or set them (defaults\: TENANT_REQUESTS_PER_MINUTE, TENANT_MAX_ACTIVE_JOBS, TENANT_MAX_RUNNING_SLICES)' \
    )
    _describe -t commands 'replayctl help tenant commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__tenant__subcmd__create_commands] )) ||
_replayctl__subcmd__help__subcmd__tenant__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help tenant create commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__tenant__subcmd__limits_commands] )) ||
_replayctl__subcmd__help__subcmd__tenant__subcmd__limits_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help tenant limits commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__webhook_commands] )) ||
_replayctl__subcmd__help__subcmd__webhook_commands() {
    local commands; commands=(
'create:Register a webhook URL (prints its signing secret once, unless the platform brings its own)' \
'get:' \
'list:The tenant'\''s webhooks in id order\: one page (\`--cursor\`, \`--limit\`), or all of them' \
'update:Point a webhook at a new URL (refused while one of its jobs is active), give it the platform'\''s new secret, or both' \
'delete:Delete a webhook (refused while one of its jobs is active; its jobs stay readable)' \
    )
    _describe -t commands 'replayctl help webhook commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__webhook__subcmd__create_commands] )) ||
_replayctl__subcmd__help__subcmd__webhook__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help webhook create commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__webhook__subcmd__delete_commands] )) ||
_replayctl__subcmd__help__subcmd__webhook__subcmd__delete_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help webhook delete commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__webhook__subcmd__get_commands] )) ||
_replayctl__subcmd__help__subcmd__webhook__subcmd__get_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help webhook get commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__webhook__subcmd__list_commands] )) ||
_replayctl__subcmd__help__subcmd__webhook__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help webhook list commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__help__subcmd__webhook__subcmd__update_commands] )) ||
_replayctl__subcmd__help__subcmd__webhook__subcmd__update_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl help webhook update commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__index_commands] )) ||
_replayctl__subcmd__index_commands() {
    local commands; commands=(
'status:Per partition\: the log'\''s retained offsets, where the index ends, and its lag' \
'rebuild:Delete the index (of one partition, or all) and index the log again from its start, here; slices read in full meanwhile' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl index commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__index__subcmd__help_commands] )) ||
_replayctl__subcmd__index__subcmd__help_commands() {
    local commands; commands=(
'status:Per partition\: the log'\''s retained offsets, where the index ends, and its lag' \
'rebuild:Delete the index (of one partition, or all) and index the log again from its start, here; slices read in full meanwhile' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl index help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__index__subcmd__help__subcmd__help_commands] )) ||
_replayctl__subcmd__index__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl index help help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__index__subcmd__help__subcmd__rebuild_commands] )) ||
_replayctl__subcmd__index__subcmd__help__subcmd__rebuild_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl index help rebuild commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__index__subcmd__help__subcmd__status_commands] )) ||
_replayctl__subcmd__index__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl index help status commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__index__subcmd__rebuild_commands] )) ||
_replayctl__subcmd__index__subcmd__rebuild_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl index rebuild commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__index__subcmd__status_commands] )) ||
_replayctl__subcmd__index__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl index status commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__key_commands] )) ||
_replayctl__subcmd__key_commands() {
    local commands; commands=(
'create:Add an API key to a tenant (rotation\: create the new one, then revoke the old)' \
'revoke:Revoke a key by its id (the hex part after \`rk_\`)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl key commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__key__subcmd__create_commands] )) ||
_replayctl__subcmd__key__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl key create commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__key__subcmd__help_commands] )) ||
_replayctl__subcmd__key__subcmd__help_commands() {
    local commands; commands=(
'create:Add an API key to a tenant (rotation\: create the new one, then revoke the old)' \
'revoke:Revoke a key by its id (the hex part after \`rk_\`)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl key help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__key__subcmd__help__subcmd__create_commands] )) ||
_replayctl__subcmd__key__subcmd__help__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl key help create commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__key__subcmd__help__subcmd__help_commands] )) ||
_replayctl__subcmd__key__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl key help help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__key__subcmd__help__subcmd__revoke_commands] )) ||
_replayctl__subcmd__key__subcmd__help__subcmd__revoke_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl key help revoke commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__key__subcmd__revoke_commands] )) ||
_replayctl__subcmd__key__subcmd__revoke_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl key revoke commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__logs_commands] )) ||
_replayctl__subcmd__logs_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl logs commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__migrate_commands] )) ||
_replayctl__subcmd__migrate_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl migrate commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay_commands] )) ||
_replayctl__subcmd__replay_commands() {
    local commands; commands=(
'start:Start a replay of \[from, to) (RFC 3339), optionally of some of its events' \
'status:' \
'list:Jobs newest first, the tenant'\''s or one webhook'\''s\: one page (\`--cursor\`, \`--limit\`), or all of them' \
'cancel:' \
'pause:Pause a job\: running slices stop at their next checkpoint; \`resume\` continues it' \
'resume:Resume a paused job from its checkpoints' \
'watch:Follow a job until it ends\: a progress bar on a terminal, a line every 5 s otherwise' \
'failures:The events a job could not deliver (all of them; \`--csv FILE\` to write them as CSV)' \
'retry:Start a job that delivers exactly the failures of an ended job' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl replay commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__cancel_commands] )) ||
_replayctl__subcmd__replay__subcmd__cancel_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay cancel commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__failures_commands] )) ||
_replayctl__subcmd__replay__subcmd__failures_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay failures commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help_commands] )) ||
_replayctl__subcmd__replay__subcmd__help_commands() {
    local commands; commands=(
'start:Start a replay of \[from, to) (RFC 3339), optionally of some of its events' \
'status:' \
'list:Jobs newest first, the tenant'\''s or one webhook'\''s\: one page (\`--cursor\`, \`--limit\`), or all of them' \
'cancel:' \
'pause:Pause a job\: running slices stop at their next checkpoint; \`resume\` continues it' \
'resume:Resume a paused job from its checkpoints' \
'watch:Follow a job until it ends\: a progress bar on a terminal, a line every 5 s otherwise' \
'failures:The events a job could not deliver (all of them; \`--csv FILE\` to write them as CSV)' \
'retry:Start a job that delivers exactly the failures of an ended job' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl replay help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help__subcmd__cancel_commands] )) ||
_replayctl__subcmd__replay__subcmd__help__subcmd__cancel_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay help cancel commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help__subcmd__failures_commands] )) ||
_replayctl__subcmd__replay__subcmd__help__subcmd__failures_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay help failures commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help__subcmd__help_commands] )) ||
_replayctl__subcmd__replay__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay help help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help__subcmd__list_commands] )) ||
_replayctl__subcmd__replay__subcmd__help__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay help list commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help__subcmd__pause_commands] )) ||
_replayctl__subcmd__replay__subcmd__help__subcmd__pause_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay help pause commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help__subcmd__resume_commands] )) ||
_replayctl__subcmd__replay__subcmd__help__subcmd__resume_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay help resume commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help__subcmd__retry_commands] )) ||
_replayctl__subcmd__replay__subcmd__help__subcmd__retry_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay help retry commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help__subcmd__start_commands] )) ||
_replayctl__subcmd__replay__subcmd__help__subcmd__start_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay help start commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help__subcmd__status_commands] )) ||
_replayctl__subcmd__replay__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay help status commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__help__subcmd__watch_commands] )) ||
_replayctl__subcmd__replay__subcmd__help__subcmd__watch_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay help watch commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__list_commands] )) ||
_replayctl__subcmd__replay__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay list commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__pause_commands] )) ||
_replayctl__subcmd__replay__subcmd__pause_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay pause commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__resume_commands] )) ||
_replayctl__subcmd__replay__subcmd__resume_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay resume commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__retry_commands] )) ||
_replayctl__subcmd__replay__subcmd__retry_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay retry commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__start_commands] )) ||
_replayctl__subcmd__replay__subcmd__start_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay start commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__status_commands] )) ||
_replayctl__subcmd__replay__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay status commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__replay__subcmd__watch_commands] )) ||
_replayctl__subcmd__replay__subcmd__watch_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl replay watch commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__rotate-secret_commands] )) ||
_replayctl__subcmd__rotate-secret_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl rotate-secret commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__tenant_commands] )) ||
_replayctl__subcmd__tenant_commands() {
    local commands; commands=(
'create:Create a tenant and its first API key (shown once)' \
'limits:Show a tenant'\''s fair-share overrides, or set them (defaults\: TENANT_REQUESTS_PER_MINUTE, TENANT_MAX_ACTIVE_JOBS, TENANT_MAX_RUNNING_SLICES)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl tenant commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__tenant__subcmd__create_commands] )) ||
_replayctl__subcmd__tenant__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl tenant create commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__tenant__subcmd__help_commands] )) ||
_replayctl__subcmd__tenant__subcmd__help_commands() {
    local commands; commands=(
'create:Create a tenant and its first API key (shown once)' \
'limits:Show a tenant'\''s fair-share overrides, or set them (defaults\: TENANT_REQUESTS_PER_MINUTE, TENANT_MAX_ACTIVE_JOBS, TENANT_MAX_RUNNING_SLICES)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl tenant help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__tenant__subcmd__help__subcmd__create_commands] )) ||
_replayctl__subcmd__tenant__subcmd__help__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl tenant help create commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__tenant__subcmd__help__subcmd__help_commands] )) ||
_replayctl__subcmd__tenant__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl tenant help help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__tenant__subcmd__help__subcmd__limits_commands] )) ||
_replayctl__subcmd__tenant__subcmd__help__subcmd__limits_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl tenant help limits commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__tenant__subcmd__limits_commands] )) ||
_replayctl__subcmd__tenant__subcmd__limits_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl tenant limits commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook_commands] )) ||
_replayctl__subcmd__webhook_commands() {
    local commands; commands=(
'create:Register a webhook URL (prints its signing secret once, unless the platform brings its own)' \
'get:' \
'list:The tenant'\''s webhooks in id order\: one page (\`--cursor\`, \`--limit\`), or all of them' \
'update:Point a webhook at a new URL (refused while one of its jobs is active), give it the platform'\''s new secret, or both' \
'delete:Delete a webhook (refused while one of its jobs is active; its jobs stay readable)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl webhook commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__create_commands] )) ||
_replayctl__subcmd__webhook__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook create commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__delete_commands] )) ||
_replayctl__subcmd__webhook__subcmd__delete_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook delete commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__get_commands] )) ||
_replayctl__subcmd__webhook__subcmd__get_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook get commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__help_commands] )) ||
_replayctl__subcmd__webhook__subcmd__help_commands() {
    local commands; commands=(
'create:Register a webhook URL (prints its signing secret once, unless the platform brings its own)' \
'get:' \
'list:The tenant'\''s webhooks in id order\: one page (\`--cursor\`, \`--limit\`), or all of them' \
'update:Point a webhook at a new URL (refused while one of its jobs is active), give it the platform'\''s new secret, or both' \
'delete:Delete a webhook (refused while one of its jobs is active; its jobs stay readable)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'replayctl webhook help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__help__subcmd__create_commands] )) ||
_replayctl__subcmd__webhook__subcmd__help__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook help create commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__help__subcmd__delete_commands] )) ||
_replayctl__subcmd__webhook__subcmd__help__subcmd__delete_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook help delete commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__help__subcmd__get_commands] )) ||
_replayctl__subcmd__webhook__subcmd__help__subcmd__get_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook help get commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__help__subcmd__help_commands] )) ||
_replayctl__subcmd__webhook__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook help help commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__help__subcmd__list_commands] )) ||
_replayctl__subcmd__webhook__subcmd__help__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook help list commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__help__subcmd__update_commands] )) ||
_replayctl__subcmd__webhook__subcmd__help__subcmd__update_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook help update commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__list_commands] )) ||
_replayctl__subcmd__webhook__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook list commands' commands "$@"
}
(( $+functions[_replayctl__subcmd__webhook__subcmd__update_commands] )) ||
_replayctl__subcmd__webhook__subcmd__update_commands() {
    local commands; commands=()
    _describe -t commands 'replayctl webhook update commands' commands "$@"
}

if [ "$funcstack[1]" = "_replayctl" ]; then
    _replayctl "$@"
else
    compdef _replayctl replayctl
fi
