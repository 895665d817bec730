# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_replayctl_global_optspecs
    string join \n json h/help V/version
end

function __fish_replayctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_replayctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_replayctl_using_subcommand
    set -l cmd (__fish_replayctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c replayctl -n "__fish_replayctl_needs_command" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_needs_command" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_needs_command" -s V -l version -d 'Print version'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "migrate" -d 'Apply the SQL migrations in migrations/ (run at deploy, never at cold start), then seal any plaintext webhook secret an earlier release left (needs WEBHOOK_SECRETS_KEY_ID only then)'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "tenant" -d 'Tenants (operator)'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "key" -d 'API keys (operator)'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "rotate-secret" -d 'Replace a webhook\'s signing secret (operator; prints the new secret once). The old one keeps signing beside it for the grace period'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "webhook" -d 'Webhooks, through the HTTP API'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "replay" -d 'Replay jobs, through the HTTP API'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "logs" -d 'A job\'s log lines from the API, worker and sweeper functions, in time order'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "audit" -d 'The audit trail: who created, changed, cancelled or deleted what (newest first)'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "dlq" -d 'The slice queue\'s dead-letter queue: what is in it, and moving it back'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "index" -d 'The delivery log\'s index (operator; DATABASE_URL, KAFKA_BROKERS and DELIVERY_LOG_TOPIC, as the functions have them)'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c replayctl -n "__fish_replayctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand migrate" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand migrate" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and not __fish_seen_subcommand_from create limits help" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and not __fish_seen_subcommand_from create limits help" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and not __fish_seen_subcommand_from create limits help" -f -a "create" -d 'Create a tenant and its first API key (shown once)'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and not __fish_seen_subcommand_from create limits help" -f -a "limits" -d 'Show a tenant\'s fair-share overrides, or set them (defaults: TENANT_REQUESTS_PER_MINUTE, TENANT_MAX_ACTIVE_JOBS, TENANT_MAX_RUNNING_SLICES)'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and not __fish_seen_subcommand_from create limits help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and __fish_seen_subcommand_from limits" -l requests-per-minute -d 'API requests per minute (0: none; `default`: the deployment\'s default)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and __fish_seen_subcommand_from limits" -l max-active-jobs -d 'Active replay jobs at once (0: none; `default`: the deployment\'s default)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and __fish_seen_subcommand_from limits" -l max-running-slices -d 'Slices running at once across all the tenant\'s jobs (0: none; `default`: the deployment\'s default)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and __fish_seen_subcommand_from limits" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and __fish_seen_subcommand_from limits" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a tenant and its first API key (shown once)'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "limits" -d 'Show a tenant\'s fair-share overrides, or set them (defaults: TENANT_REQUESTS_PER_MINUTE, TENANT_MAX_ACTIVE_JOBS, TENANT_MAX_RUNNING_SLICES)'
complete -c replayctl -n "__fish_replayctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and not __fish_seen_subcommand_from create revoke help" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and not __fish_seen_subcommand_from create revoke help" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and not __fish_seen_subcommand_from create revoke help" -f -a "create" -d 'Add an API key to a tenant (rotation: create the new one, then revoke the old)'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and not __fish_seen_subcommand_from create revoke help" -f -a "revoke" -d 'Revoke a key by its id (the hex part after `rk_`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and not __fish_seen_subcommand_from create revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and __fish_seen_subcommand_from create" -l tenant -r
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and __fish_seen_subcommand_from create" -l read-only -d 'A key that may only read: webhooks, job status and lists, failure reports'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and __fish_seen_subcommand_from create" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and __fish_seen_subcommand_from revoke" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "create" -d 'Add an API key to a tenant (rotation: create the new one, then revoke the old)'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a key by its id (the hex part after `rk_`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand rotate-secret" -l grace-seconds -d 'How long deliveries carry the old secret\'s signature too, in seconds' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand rotate-secret" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand rotate-secret" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and not __fish_seen_subcommand_from create get list update delete help" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and not __fish_seen_subcommand_from create get list update delete help" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and not __fish_seen_subcommand_from create get list update delete help" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and not __fish_seen_subcommand_from create get list update delete help" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and not __fish_seen_subcommand_from create get list update delete help" -f -a "create" -d 'Register a webhook URL (prints its signing secret once, unless the platform brings its own)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and not __fish_seen_subcommand_from create get list update delete help" -f -a "get"
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and not __fish_seen_subcommand_from create get list update delete help" -f -a "list" -d 'The tenant\'s webhooks in id order: one page (`--cursor`, `--limit`), or all of them'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and not __fish_seen_subcommand_from create get list update delete help" -f -a "update" -d 'Point a webhook at a new URL (refused while one of its jobs is active), give it the platform\'s new secret, or both'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and not __fish_seen_subcommand_from create get list update delete help" -f -a "delete" -d 'Delete a webhook (refused while one of its jobs is active; its jobs stay readable)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and not __fish_seen_subcommand_from create get list update delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from create" -l id -d 'The platform\'s own id for it (the key its delivery log uses)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from create" -l secret-env -d 'The variable holding the secret in Standard Webhooks form (`whsec_` + base64)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from create" -l secret-raw-env -d 'The variable holding a raw key, its bytes used as they are' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from create" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from create" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from create" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from get" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from get" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from get" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from list" -l cursor -d '`next_cursor` of the previous page' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from list" -l limit -d 'Items per page (the list\'s default when absent)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from list" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from list" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from list" -l all -d 'Every page, one after the other, as one list'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from update" -l url -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from update" -l secret-env -d 'The variable holding the secret in Standard Webhooks form (`whsec_` + base64)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from update" -l secret-raw-env -d 'The variable holding a raw key, its bytes used as they are' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from update" -l grace-seconds -d 'With a new secret: how long the old one keeps signing beside it (seconds; the service\'s default is a day)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from update" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from update" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from update" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from delete" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from delete" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from delete" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from help" -f -a "create" -d 'Register a webhook URL (prints its signing secret once, unless the platform brings its own)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from help" -f -a "get"
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from help" -f -a "list" -d 'The tenant\'s webhooks in id order: one page (`--cursor`, `--limit`), or all of them'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from help" -f -a "update" -d 'Point a webhook at a new URL (refused while one of its jobs is active), give it the platform\'s new secret, or both'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a webhook (refused while one of its jobs is active; its jobs stay readable)'
complete -c replayctl -n "__fish_replayctl_using_subcommand webhook; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -f -a "start" -d 'Start a replay of [from, to) (RFC 3339), optionally of some of its events'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -f -a "status"
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -f -a "list" -d 'Jobs newest first, the tenant\'s or one webhook\'s: one page (`--cursor`, `--limit`), or all of them'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -f -a "cancel"
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -f -a "pause" -d 'Pause a job: running slices stop at their next checkpoint; `resume` continues it'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -f -a "resume" -d 'Resume a paused job from its checkpoints'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -f -a "watch" -d 'Follow a job until it ends: a progress bar on a terminal, a line every 5 s otherwise'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -f -a "failures" -d 'The events a job could not deliver (all of them; `--csv FILE` to write them as CSV)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -f -a "retry" -d 'Start a job that delivers exactly the failures of an ended job'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and not __fish_seen_subcommand_from start status list cancel pause resume watch failures retry help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l from -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l to -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l event-type -d 'Only events of this type (repeat for several, up to 50)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l event-id -d 'Only this event (repeat for several, up to 1,000)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l only -d '`failed`: only events whose original delivery failed' -r -f -a "failed\t''"
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l target -d 'Deliver to this other webhook of the tenant (its URL, its secret)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l max-in-flight -d 'The job\'s requests in flight at most, across its slices' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l max-events-per-second -d 'The job\'s request starts per second at most, across its slices' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l ordering-key -d 'Deliver in log order per key: a JSON Pointer into each event\'s payload (for example /account_id); keys run concurrently' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l idempotency-key -d 'Makes the request safe to repeat (generated when absent)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l dry-run -d 'Count what would be delivered, deliver nothing'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l crc-check -d 'Check the receiver (Twitter\'s CRC) before the first delivery'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l wait -d 'Follow the job until it ends (as `watch`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from status" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from status" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from status" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from list" -l state -d 'Only jobs in these states (`--state ONGOING,OPEN`)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from list" -l cursor -d '`next_cursor` of the previous page' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from list" -l limit -d 'Items per page (the list\'s default when absent)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from list" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from list" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from list" -l all -d 'Every page, one after the other, as one list'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from cancel" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from cancel" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from cancel" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from cancel" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from pause" -l reason -d 'Shown in the job\'s `pause.reason`' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from pause" -l expires-in -d 'Not resumed within this many seconds, the job ends INCOMPLETE (default: the deployment\'s maximum)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from pause" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from pause" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from pause" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from pause" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from resume" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from resume" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from resume" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from resume" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from watch" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from watch" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from watch" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from watch" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from failures" -l csv -r -F
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from failures" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from failures" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from failures" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from failures" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from retry" -l api-url -d 'The API\'s base URL: the stack\'s ApiUrl output (`make up` prints the local one)' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from retry" -l api-key -r
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from retry" -l wait -d 'Follow the new job until it ends'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from retry" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from retry" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start a replay of [from, to) (RFC 3339), optionally of some of its events'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from help" -f -a "status"
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from help" -f -a "list" -d 'Jobs newest first, the tenant\'s or one webhook\'s: one page (`--cursor`, `--limit`), or all of them'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from help" -f -a "cancel"
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from help" -f -a "pause" -d 'Pause a job: running slices stop at their next checkpoint; `resume` continues it'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from help" -f -a "resume" -d 'Resume a paused job from its checkpoints'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from help" -f -a "watch" -d 'Follow a job until it ends: a progress bar on a terminal, a line every 5 s otherwise'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from help" -f -a "failures" -d 'The events a job could not deliver (all of them; `--csv FILE` to write them as CSV)'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from help" -f -a "retry" -d 'Start a job that delivers exactly the failures of an ended job'
complete -c replayctl -n "__fish_replayctl_using_subcommand replay; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand logs" -l stack -d 'The stack (its log groups are /activity-replay/<stack>/{api,worker,sweeper})' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand logs" -l hours -d 'How far back to look, in hours' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand logs" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand logs" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand audit" -l tenant -d 'Only this tenant\'s rows' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand audit" -l limit -r
complete -c replayctl -n "__fish_replayctl_using_subcommand audit" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand audit" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and not __fish_seen_subcommand_from show redrive help" -l stack -d 'The stack whose queues these are' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and not __fish_seen_subcommand_from show redrive help" -l dlq-url -d 'The dead-letter queue\'s URL (the stack\'s SliceDeadLetterQueueUrl output), instead of finding it' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and not __fish_seen_subcommand_from show redrive help" -l queue-url -d 'The slice queue\'s URL (the stack\'s SliceQueueUrl output), instead of finding it' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and not __fish_seen_subcommand_from show redrive help" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and not __fish_seen_subcommand_from show redrive help" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and not __fish_seen_subcommand_from show redrive help" -f -a "show" -d 'List the messages in the DLQ (they stay there)'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and not __fish_seen_subcommand_from show redrive help" -f -a "redrive" -d 'Move every message back to the slice queue (after fixing what failed them)'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and not __fish_seen_subcommand_from show redrive help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from show" -l stack -d 'The stack whose queues these are' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from show" -l dlq-url -d 'The dead-letter queue\'s URL (the stack\'s SliceDeadLetterQueueUrl output), instead of finding it' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from show" -l queue-url -d 'The slice queue\'s URL (the stack\'s SliceQueueUrl output), instead of finding it' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from show" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l stack -d 'The stack whose queues these are' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l dlq-url -d 'The dead-letter queue\'s URL (the stack\'s SliceDeadLetterQueueUrl output), instead of finding it' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l queue-url -d 'The slice queue\'s URL (the stack\'s SliceQueueUrl output), instead of finding it' -r
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "show" -d 'List the messages in the DLQ (they stay there)'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "redrive" -d 'Move every message back to the slice queue (after fixing what failed them)'
complete -c replayctl -n "__fish_replayctl_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and not __fish_seen_subcommand_from status rebuild help" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and not __fish_seen_subcommand_from status rebuild help" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and not __fish_seen_subcommand_from status rebuild help" -f -a "status" -d 'Per partition: the log\'s retained offsets, where the index ends, and its lag'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and not __fish_seen_subcommand_from status rebuild help" -f -a "rebuild" -d 'Delete the index (of one partition, or all) and index the log again from its start, here; slices read in full meanwhile'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and not __fish_seen_subcommand_from status rebuild help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and __fish_seen_subcommand_from status" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and __fish_seen_subcommand_from rebuild" -l partition -r
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and __fish_seen_subcommand_from rebuild" -l drop-only -d 'Only delete it: the sweeper\'s runs index the log again'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and __fish_seen_subcommand_from rebuild" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and __fish_seen_subcommand_from rebuild" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and __fish_seen_subcommand_from help" -f -a "status" -d 'Per partition: the log\'s retained offsets, where the index ends, and its lag'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and __fish_seen_subcommand_from help" -f -a "rebuild" -d 'Delete the index (of one partition, or all) and index the log again from its start, here; slices read in full meanwhile'
complete -c replayctl -n "__fish_replayctl_using_subcommand index; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand completions" -l json -d 'Print machine-readable JSON (one document; NDJSON for `logs`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "migrate" -d 'Apply the SQL migrations in migrations/ (run at deploy, never at cold start), then seal any plaintext webhook secret an earlier release left (needs WEBHOOK_SECRETS_KEY_ID only then)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "tenant" -d 'Tenants (operator)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "key" -d 'API keys (operator)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "rotate-secret" -d 'Replace a webhook\'s signing secret (operator; prints the new secret once). The old one keeps signing beside it for the grace period'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "webhook" -d 'Webhooks, through the HTTP API'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "replay" -d 'Replay jobs, through the HTTP API'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "logs" -d 'A job\'s log lines from the API, worker and sweeper functions, in time order'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "audit" -d 'The audit trail: who created, changed, cancelled or deleted what (newest first)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "dlq" -d 'The slice queue\'s dead-letter queue: what is in it, and moving it back'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "index" -d 'The delivery log\'s index (operator; DATABASE_URL, KAFKA_BROKERS and DELIVERY_LOG_TOPIC, as the functions have them)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and not __fish_seen_subcommand_from migrate tenant key rotate-secret webhook replay logs audit dlq index completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "create" -d 'Create a tenant and its first API key (shown once)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "limits" -d 'Show a tenant\'s fair-share overrides, or set them (defaults: TENANT_REQUESTS_PER_MINUTE, TENANT_MAX_ACTIVE_JOBS, TENANT_MAX_RUNNING_SLICES)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "create" -d 'Add an API key to a tenant (rotation: create the new one, then revoke the old)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "revoke" -d 'Revoke a key by its id (the hex part after `rk_`)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from webhook" -f -a "create" -d 'Register a webhook URL (prints its signing secret once, unless the platform brings its own)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from webhook" -f -a "get"
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from webhook" -f -a "list" -d 'The tenant\'s webhooks in id order: one page (`--cursor`, `--limit`), or all of them'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from webhook" -f -a "update" -d 'Point a webhook at a new URL (refused while one of its jobs is active), give it the platform\'s new secret, or both'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from webhook" -f -a "delete" -d 'Delete a webhook (refused while one of its jobs is active; its jobs stay readable)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from replay" -f -a "start" -d 'Start a replay of [from, to) (RFC 3339), optionally of some of its events'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from replay" -f -a "status"
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from replay" -f -a "list" -d 'Jobs newest first, the tenant\'s or one webhook\'s: one page (`--cursor`, `--limit`), or all of them'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from replay" -f -a "cancel"
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from replay" -f -a "pause" -d 'Pause a job: running slices stop at their next checkpoint; `resume` continues it'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from replay" -f -a "resume" -d 'Resume a paused job from its checkpoints'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from replay" -f -a "watch" -d 'Follow a job until it ends: a progress bar on a terminal, a line every 5 s otherwise'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from replay" -f -a "failures" -d 'The events a job could not deliver (all of them; `--csv FILE` to write them as CSV)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from replay" -f -a "retry" -d 'Start a job that delivers exactly the failures of an ended job'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from dlq" -f -a "show" -d 'List the messages in the DLQ (they stay there)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from dlq" -f -a "redrive" -d 'Move every message back to the slice queue (after fixing what failed them)'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from index" -f -a "status" -d 'Per partition: the log\'s retained offsets, where the index ends, and its lag'
complete -c replayctl -n "__fish_replayctl_using_subcommand help; and __fish_seen_subcommand_from index" -f -a "rebuild" -d 'Delete the index (of one partition, or all) and index the log again from its start, here; slices read in full meanwhile'
