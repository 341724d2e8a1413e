# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kafka_rs_global_optspecs
    string join \n h/help V/version
end

function __fish_kafka_rs_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kafka_rs_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kafka_rs_using_subcommand
    set -l cmd (__fish_kafka_rs_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish) to stdout'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "man" -d 'Write one man page per subcommand into a directory'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "server-start" -d 'Start a Kafka broker (kafka-server-start.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "server-stop" -d 'Stop the brokers started on this machine (kafka-server-stop.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "zookeeper-shell" -d 'Inspect a ZooKeeper server: ls, get, stat, create, set, delete, deleteall'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "zookeeper-start" -d 'Run the ZooKeeper-compatible server (bin/zookeeper-server-start.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "zookeeper-stop" -d 'Stop the ZooKeeper servers started on this machine'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand completions" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand completions" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand man" -l out-dir -d 'Directory to write the pages into' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand man" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand man" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand server-start" -l override -d 'Set a property, overriding the file (repeatable)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand server-start" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand server-start" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand server-stop" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand server-stop" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-shell" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-shell" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-start" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-start" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-stop" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-stop" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man server-start server-stop zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish) to stdout'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man server-start server-stop zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "man" -d 'Write one man page per subcommand into a directory'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man server-start server-stop zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "server-start" -d 'Start a Kafka broker (kafka-server-start.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man server-start server-stop zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "server-stop" -d 'Stop the brokers started on this machine (kafka-server-stop.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man server-start server-stop zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "zookeeper-shell" -d 'Inspect a ZooKeeper server: ls, get, stat, create, set, delete, deleteall'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man server-start server-stop zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "zookeeper-start" -d 'Run the ZooKeeper-compatible server (bin/zookeeper-server-start.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man server-start server-stop zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "zookeeper-stop" -d 'Stop the ZooKeeper servers started on this machine'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man server-start server-stop zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
