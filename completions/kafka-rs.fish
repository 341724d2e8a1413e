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
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "dump-log" -d 'Print the batches, records and index entries of log segment files (kafka-dump-log.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "acls" -d 'Add, remove and list ACLs (kafka-acls.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "configs" -d 'Describe and alter topic, broker, user and client configs (kafka-configs.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "connect-standalone" -d 'Run a Kafka Connect worker alone, with offsets in a file (connect-standalone.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "connect-distributed" -d 'Run a Kafka Connect worker in a cluster of workers (connect-distributed.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "console-consumer" -d 'Print a topic\'s records to stdout (kafka-console-consumer.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "console-producer" -d 'Send stdin lines as records to a topic (kafka-console-producer.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "consumer-groups" -d 'List, describe and delete consumer groups, reset their offsets (kafka-consumer-groups.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "consumer-perf-test" -d 'Measure consumer throughput (kafka-consumer-perf-test.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "get-offsets" -d 'Print partition offsets at a time (kafka-get-offsets.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "leader-election" -d 'Elect preferred or unclean partition leaders (kafka-leader-election.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "reassign-partitions" -d 'Move partition replicas between brokers (kafka-reassign-partitions.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "producer-perf-test" -d 'Measure producer throughput and latency (kafka-producer-perf-test.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "topics" -d 'Create, list, describe, alter and delete topics (kafka-topics.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "transactions" -d 'List and describe transactions and the producers of a partition (kafka-transactions.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "server-start" -d 'Start a Kafka broker (kafka-server-start.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "server-stop" -d 'Stop the brokers started on this machine (kafka-server-stop.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "top" -d 'A live terminal view of brokers, topics, partitions and consumer-group lag'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "zookeeper-shell" -d 'Inspect a ZooKeeper server: ls, get, stat, create, set, delete, deleteall'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "zookeeper-start" -d 'Run the ZooKeeper-compatible server (bin/zookeeper-server-start.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "zookeeper-stop" -d 'Stop the ZooKeeper servers started on this machine'
complete -c kafka-rs -n "__fish_kafka_rs_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand completions" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand completions" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand man" -l out-dir -d 'Directory to write the pages into' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand man" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand man" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l files -d 'REQUIRED: The comma separated list of data and index log files to be dumped' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l max-message-size -d 'Size of largest message' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l max-bytes -d 'Limit the amount of total batches read in bytes avoiding reading the whole .log file(s)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l key-decoder-class -d 'If set, used to deserialize the keys: StringDecoder (default), LongDecoder or IntegerDecoder' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l value-decoder-class -d 'If set, used to deserialize the messages: StringDecoder (default), LongDecoder or IntegerDecoder' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l print-data-log -d 'If set, printing the messages content when dumping data logs. Automatically set if any decoder option is specified'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l deep-iteration -d 'If set, uses deep instead of shallow iteration. Automatically set if print-data-log is enabled'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l verify-index-only -d 'If set, just verify the index log without printing its content'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l index-sanity-check -d 'If set, just checks the index sanity without printing its content. This is the same check that is executed on broker startup to determine if an index needs rebuilding or not'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l skip-record-metadata -d 'Whether to skip printing metadata for each record'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l offsets-decoder -d 'If set, log data will be parsed as offset data from the __consumer_offsets topic'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -l transaction-log-decoder -d 'If set, log data will be parsed as transaction metadata from the __transaction_state topic'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand dump-log" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l allow-principal -d 'Principal to allow (User:NAME, User:* for everyone); repeatable' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l deny-principal -d 'Principal to deny; repeatable' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l principal -d 'With --list: only the ACLs of this principal' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l allow-host -d 'Host the allow principals may connect from (default *); repeatable' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l deny-host -d 'Host the deny principals are refused from (default *); repeatable' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l operation -d 'Operation: Read, Write, Create, Delete, Alter, Describe, ClusterAction, AlterConfigs, DescribeConfigs, IdempotentWrite, All (default All)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l topic -d 'Topic ACLs (\'*\' for every topic); repeatable' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l group -d 'Consumer group ACLs (\'*\' for every group); repeatable' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l transactional-id -d 'Transactional id ACLs (\'*\' for every one); repeatable' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l resource-pattern-type -d 'LITERAL or PREFIXED for --add; also ANY or MATCH for --list and --remove (default LITERAL)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l bootstrap-server -d 'The server(s) to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l command-config -d 'Admin client properties file (security settings, timeouts)' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l add -d 'Add the ACLs described by the other options'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l remove -d 'Remove ACLs'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l list -d 'List ACLs of the given resources, or of every resource'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l cluster -d 'ACLs of the cluster resource'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l producer -d 'Producer convenience: WRITE, DESCRIBE and CREATE on the topics, WRITE and DESCRIBE on the transactional ids'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l consumer -d 'Consumer convenience: READ and DESCRIBE on the topics, READ on the groups (--group required)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l idempotent -d 'With --producer: IDEMPOTENT_WRITE on the cluster'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -l force -d 'Do not ask for confirmation'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand acls" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l command-config -d 'Admin client properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l entity-type -d 'topics, brokers, users or clients; users and clients together name a user\'s quotas for one client id' -r -f -a "topics\t''
brokers\t''
users\t''
clients\t''"
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l entity-name -d 'The topic name, broker id, user name or client id (one per --entity-type, in the same order)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l user -d 'Same as --entity-type users --entity-name NAME' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l client -d 'Same as --entity-type clients --entity-name ID' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l topic -d 'Same as --entity-type topics --entity-name NAME' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l broker -d 'Same as --entity-type brokers --entity-name ID' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l add-config -d 'Configs to add or update: k1=v1,k2=[v1,v2,v3],k3=v3' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l delete-config -d 'Config names to remove: k1,k2' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l bootstrap-server -d 'The Kafka server to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l zookeeper -d 'Manage configs through ZooKeeper (host:port)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l describe -d 'List configs for the given entity'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l alter -d 'Alter the configuration of the given entity'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l all -d 'With --describe: every config, not only the dynamic ones'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l entity-default -d 'The cluster-wide default for brokers, or the default user or client id (for the --entity-type given without a name)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l user-defaults -d 'The default user: same as --entity-type users --entity-default'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -l client-defaults -d 'The default client id: same as --entity-type clients --entity-default'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand configs" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand connect-standalone" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand connect-standalone" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand connect-distributed" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand connect-distributed" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l bootstrap-server -d 'The server(s) to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l zookeeper -d 'Find the brokers through ZooKeeper (host:port)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l topic -d 'The topic to consume' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l include -d 'Regular expression of the topics to consume (whole names)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l whitelist -d 'Deprecated alias of --include' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l partition -d 'Consume only this partition' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l offset -d 'Where to start with --partition: earliest, latest or an offset' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l max-messages -d 'Exit after this many messages' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l timeout-ms -d 'Exit when no message arrived for this long (ms)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l isolation-level -d 'read_uncommitted, or read_committed to hide aborted transactions' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l consumer-property -d 'A consumer property (key=value, repeatable)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l consumer.config -d 'Consumer properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l property -d 'Formatter properties: print.timestamp, print.key, print.offset, print.partition, print.headers, print.value, key.separator, line.separator, headers.separator, null.literal (key=value, repeatable)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l formatter-config -d 'Formatter properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l formatter -d 'The formatter class: kafka.tools.DefaultMessageFormatter, kafka.tools.LoggingMessageFormatter (also logs each record to stderr) or kafka.tools.NoOpMessageFormatter (prints nothing); the org.apache.kafka.tools.consumer.* names work too' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l key-deserializer -d 'Deserializer class for keys, e.g. org.apache.kafka.common.serialization.LongDeserializer' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l value-deserializer -d 'Deserializer class for values, e.g. org.apache.kafka.common.serialization.IntegerDeserializer' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l group -d 'Consume as a member of this consumer group' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l from-beginning -d 'Start with the earliest message rather than the latest'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -l skip-message-on-error -d 'Skip a message that cannot be processed instead of stopping'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-consumer" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l bootstrap-server -d 'The server(s) to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l broker-list -d 'Deprecated alias of --bootstrap-server' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l topic -d 'The topic to produce messages to' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l property -d 'Line reader properties: parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, headers.key.separator, null.marker, ignore.error (key=value, repeatable)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l reader-config -d 'Line reader properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l producer-property -d 'A producer property (key=value, repeatable)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l producer.config -d 'Producer properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l compression-codec -d 'Compression codec: none, gzip, snappy, lz4 or zstd; given bare, gzip' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l request-required-acks -d 'Acks the leader waits for: 0, 1 or -1/all' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l batch-size -d 'Bytes per partition batch (batch.size)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l timeout -d 'How long a batch may wait to fill, in ms (linger.ms)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l message-send-max-retries -d 'Retries of a failed send before the message is reported as failed' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l retry-backoff-ms -d 'Wait before each retry, in ms' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l request-timeout-ms -d 'How long a request may take, in ms' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l max-block-ms -d 'How long to wait for the topic\'s metadata, in ms' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -l sync -d 'Send each message synchronously, waiting for its acknowledgement'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand console-producer" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l bootstrap-server -d 'The server(s) to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l command-config -d 'Admin client properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l group -d 'The consumer group(s) to act on' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l topic -d 'The topic (`topic` or `topic:0,1`) whose offsets to reset or delete' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l timeout -d 'How long the whole command may take, in ms (connecting, waiting for a coordinator, a group to stabilise)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l to-offset -d 'Reset to this offset' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l from-file -d 'Reset to the offsets in a CSV file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l to-datetime -d 'Reset to the first offset at or after a time: YYYY-MM-DDTHH:mm:SS.sss' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l by-duration -d 'Reset to the offset at now minus a duration: PnDTnHnMnS' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l shift-by -d 'Move the committed offsets by N (may be negative)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l state -d 'Describe the group\'s state; with --list, show (or filter by) states' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l type -d 'With --list, show the groups\' types, or only those of these types (comma-separated: consumer, classic)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l output -d 'Output format' -r -f -a "text\t'Kafka\'s own text format'
table\t'The same, drawn as tables'
json\t'JSON for scripts'"
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l all-topics -d 'Reset the offsets of every topic the group has offsets for'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l list -d 'List all consumer groups'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l describe -d 'Describe consumer group(s): offsets and lag, or --members / --state'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l all-groups -d 'Apply to all consumer groups'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l delete -d 'Delete the consumer group(s); they must be empty'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l reset-offsets -d 'Reset the group\'s committed offsets (the group must be inactive)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l delete-offsets -d 'Delete the group\'s committed offsets of the given --topic'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l dry-run -d 'Only show what --reset-offsets would do (the default)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l execute -d 'Carry out --reset-offsets'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l export -d 'Print the reset plan as CSV (topic,partition,offset) for --from-file'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l to-earliest -d 'Reset to the earliest offset'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l to-latest -d 'Reset to the latest offset'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l to-current -d 'Reset to the current committed offset'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l members -d 'Describe the members of the group'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l verbose -d 'With --members, show each member\'s partitions'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -l offsets -d 'Describe the group\'s offsets and lag (the default)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-groups" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l bootstrap-server -d 'The server(s) to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l broker-list -d 'Deprecated alias of --bootstrap-server' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l topic -d 'The topic to consume from' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l messages -d 'The number of messages to consume' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l fetch-size -d 'Bytes to fetch per partition and request (max.partition.fetch.bytes)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l timeout -d 'Give up when no message arrived for this long (ms)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l reporting-interval -d 'Interval between detailed stats lines (ms)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l date-format -d 'SimpleDateFormat pattern for the times' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l consumer.config -d 'Consumer properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l from-latest -d 'Start from the latest offsets instead of the earliest'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l show-detailed-stats -d 'Print a stats line every reporting interval'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l hide-header -d 'Leave out the header line'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -l print-metrics -d 'Print the consumer\'s metrics at the end, in Kafka\'s metric names'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand consumer-perf-test" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand get-offsets" -l bootstrap-server -d 'The server(s) to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand get-offsets" -l command-config -d 'Admin client properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand get-offsets" -l broker-list -d 'Deprecated alias of --bootstrap-server' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand get-offsets" -l topic -d 'Regular expression of the topics to query (all topics if absent)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand get-offsets" -l partitions -d 'Comma-separated partition ids to query (all if absent)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand get-offsets" -l topic-partitions -d 'Topic-partition patterns: topic1:1,topic2:0-3,topic3,topic4:5-,topic5:-3 (ranges: lower bound inclusive, upper exclusive)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand get-offsets" -l time -d '-1 or latest, -2 or earliest, -3 or max-timestamp, or a timestamp in ms' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand get-offsets" -l exclude-internal-topics -d 'Leave out internal topics'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand get-offsets" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand get-offsets" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand leader-election" -l election-type -d 'Type of election to attempt: PREFERRED for the preferred replica, UNCLEAN for any live replica of a partition without a leader' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand leader-election" -l topic -d 'Name of the topic whose partition\'s leader is elected (with --partition)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand leader-election" -l partition -d 'The partition of --topic whose leader is elected' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand leader-election" -l path-to-json-file -d 'JSON file of the partitions to elect: {"partitions": [{"topic": "foo", "partition": 1}, ...]}' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand leader-election" -l bootstrap-server -d 'The server(s) to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand leader-election" -l admin.config -d 'Admin client properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand leader-election" -l all-topic-partitions -d 'Elect leaders for every partition'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand leader-election" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand leader-election" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l command-config -d 'Admin client properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l reassignment-json-file -d 'The JSON file with the partition reassignment configuration: {"version":1,"partitions":[{"topic":"foo","partition":1,"replicas":[1,2,3]}]}' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l topics-to-move-json-file -d 'JSON file of the topics to move (with --generate): {"version":1,"topics":[{"topic":"foo"},{"topic":"foo1"}]}' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l broker-list -d 'The brokers to move the topics to (with --generate), e.g. "0,1,2"' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l throttle -d 'The replication throttle in B/s while replicas move (with --execute): sets the brokers\' leader/follower.replication.throttled.rate and the topics\' leader/follower.replication.throttled.replicas, as Kafka does; --verify clears them once the reassignment completes' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l timeout -d 'How long --execute waits for the controller to accept the reassignment, in ms' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l bootstrap-server -d 'The server(s) to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l generate -d 'Print a candidate assignment moving the topics of --topics-to-move-json-file to the brokers of --broker-list; nothing is executed'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l execute -d 'Start the reassignment of --reassignment-json-file'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l verify -d 'Report whether the reassignment of --reassignment-json-file is complete, and clear the throttles once it is'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l cancel -d 'Cancel the reassignments of --reassignment-json-file still in progress, returning those partitions to their original replicas'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l list -d 'List every partition reassignment in progress'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l disable-rack-aware -d 'Ignore rack placement when generating (this tool places replicas without racks either way)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l additional -d 'Execute while other reassignments are in progress, or change the throttle of a running one'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -l preserve-throttles -d 'Keep the throttles when --verify or --cancel finish'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand reassign-partitions" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l topic -d 'The topic to produce to' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l num-records -d 'Number of records to produce' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l record-size -d 'Record size in bytes' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l payload-file -d 'File of payloads, one picked at random per record' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l payload-delimiter -d 'Separator of the payloads in --payload-file' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l throughput -d 'Records per second at most; -1 for no limit' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l producer-props -d 'Producer properties: bootstrap.servers=... and others (key=value ...)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l producer.config -d 'Producer properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l bootstrap-server -d 'The server(s) to connect to (overrides bootstrap.servers)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l transactional-id -d 'Produce in transactions with this transactional id (it overrides transactional.id from --producer-props or --producer.config). With only --transaction-duration-ms given it is performance-producer-default-transactional-id' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l transaction-duration-ms -d 'How long each transaction stays open: it is committed once this much time has passed since it began, and the last one at the end. Must be greater than 0; 3000 when transactions are enabled by --transactional-id or transactional.id alone' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -l print-metrics -d 'Print the producer\'s metrics at the end, in Kafka\'s metric names'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand producer-perf-test" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l command-config -d 'Admin client properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l zookeeper -d 'Manage topics through ZooKeeper instead of a broker (host:port)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l topic -d 'The topic to create, alter, describe or delete; a regular expression except with --create' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l partitions -d 'The number of partitions for the topic being created or altered' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l replication-factor -d 'The replication factor for each partition in the topic being created' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l replica-assignment -d 'Manual partition-to-broker assignment: broker_id_for_part1_replica1:broker_id_for_part1_replica2, broker_id_for_part2_replica1:broker_id_for_part2_replica2, ...' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l config -d 'A topic configuration override (name=value); repeatable' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l delete-config -d 'A topic configuration override to remove (with --alter); repeatable' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l output -d 'Output format for --list and --describe' -r -f -a "text\t'Kafka\'s own text format'
table\t'The same, drawn as tables'
json\t'JSON for scripts'"
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l bootstrap-server -d 'The Kafka server to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l create -d 'Create a new topic'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l list -d 'List all available topics'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l describe -d 'List details for the given topics'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l delete -d 'Delete a topic'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l alter -d 'Alter the number of partitions and replica assignment, or the configs, of a topic'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l if-exists -d 'With --alter, --delete or --describe: only act if the topic exists'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l if-not-exists -d 'With --create: only create the topic if it does not exist'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l under-replicated-partitions -d 'With --describe: only partitions whose ISR is smaller than their replica set'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l unavailable-partitions -d 'With --describe: only partitions whose leader is not available'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l under-min-isr-partitions -d 'With --describe: only partitions whose ISR is smaller than min.insync.replicas'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l at-min-isr-partitions -d 'With --describe: only partitions whose ISR equals min.insync.replicas'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l topics-with-overrides -d 'With --describe: only topics whose configs differ from the defaults'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -l exclude-internal -d 'Leave out internal topics (names starting with "__") with --list and --describe'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand topics" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers find-hanging abort help" -l command-config -d 'Admin client properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers find-hanging abort help" -l bootstrap-server -d 'The server(s) to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers find-hanging abort help" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers find-hanging abort help" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers find-hanging abort help" -f -a "list" -d 'List transactions'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers find-hanging abort help" -f -a "describe" -d 'Describe the state of an active transactional-id'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers find-hanging abort help" -f -a "describe-producers" -d 'Describe the states of active producers for a topic partition'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers find-hanging abort help" -f -a "find-hanging" -d 'Find hanging transactions'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers find-hanging abort help" -f -a "abort" -d 'Abort a hanging transaction (requires administrative privileges)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and not __fish_seen_subcommand_from list describe describe-producers find-hanging abort help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from describe" -l transactional-id -d 'Transactional id' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from describe" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from describe" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -l topic -d 'Topic name' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -l partition -d 'Topic partition' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from describe-producers" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l broker-id -d 'Broker id to search for hanging transactions' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l topic -d 'Topic name' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l partition -d 'Topic partition' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -l max-transaction-timeout -d 'Maximum transaction timeout in minutes to limit the scope of the search' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from find-hanging" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l topic -d 'Topic name' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l partition -d 'Partition number' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l start-offset -d 'Start offset of the transaction to abort' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l producer-id -d 'Producer id of the transaction to abort' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l producer-epoch -d 'Producer epoch of the transaction to abort' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from abort" -l coordinator-epoch -d 'Coordinator epoch of the transaction to abort' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from abort" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from abort" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "list" -d 'List transactions'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "describe" -d 'Describe the state of an active transactional-id'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "describe-producers" -d 'Describe the states of active producers for a topic partition'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "find-hanging" -d 'Find hanging transactions'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "abort" -d 'Abort a hanging transaction (requires administrative privileges)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand transactions; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand server-start" -l override -d 'Set a property, overriding the file (repeatable)' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand server-start" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand server-start" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand server-stop" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand server-stop" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand top" -l command-config -d 'Admin client properties file' -r -F
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand top" -l interval -d 'Seconds between refreshes; rates are measured over this interval' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand top" -l output -d 'Format of the snapshot printed by --once' -r -f -a "text\t''
json\t''"
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand top" -l bootstrap-server -d 'The Kafka server to connect to (host:port[,host:port...])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand top" -l zookeeper -d 'Find the brokers through ZooKeeper (host:port[/chroot])' -r
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand top" -l once -d 'Print one snapshot and exit (taking two samples one interval apart, so rates are filled in). The default when stdout is not a terminal'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand top" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand top" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-shell" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-shell" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-start" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-start" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-stop" -s h -l help -d 'Print help'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand zookeeper-stop" -s V -l version -d 'Print version'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish) to stdout'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "man" -d 'Write one man page per subcommand into a directory'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "dump-log" -d 'Print the batches, records and index entries of log segment files (kafka-dump-log.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "acls" -d 'Add, remove and list ACLs (kafka-acls.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "configs" -d 'Describe and alter topic, broker, user and client configs (kafka-configs.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "connect-standalone" -d 'Run a Kafka Connect worker alone, with offsets in a file (connect-standalone.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "connect-distributed" -d 'Run a Kafka Connect worker in a cluster of workers (connect-distributed.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "console-consumer" -d 'Print a topic\'s records to stdout (kafka-console-consumer.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "console-producer" -d 'Send stdin lines as records to a topic (kafka-console-producer.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "consumer-groups" -d 'List, describe and delete consumer groups, reset their offsets (kafka-consumer-groups.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "consumer-perf-test" -d 'Measure consumer throughput (kafka-consumer-perf-test.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "get-offsets" -d 'Print partition offsets at a time (kafka-get-offsets.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "leader-election" -d 'Elect preferred or unclean partition leaders (kafka-leader-election.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "reassign-partitions" -d 'Move partition replicas between brokers (kafka-reassign-partitions.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "producer-perf-test" -d 'Measure producer throughput and latency (kafka-producer-perf-test.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "topics" -d 'Create, list, describe, alter and delete topics (kafka-topics.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "transactions" -d 'List and describe transactions and the producers of a partition (kafka-transactions.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "server-start" -d 'Start a Kafka broker (kafka-server-start.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "server-stop" -d 'Stop the brokers started on this machine (kafka-server-stop.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "top" -d 'A live terminal view of brokers, topics, partitions and consumer-group lag'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "zookeeper-shell" -d 'Inspect a ZooKeeper server: ls, get, stat, create, set, delete, deleteall'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "zookeeper-start" -d 'Run the ZooKeeper-compatible server (bin/zookeeper-server-start.sh)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "zookeeper-stop" -d 'Stop the ZooKeeper servers started on this machine'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and not __fish_seen_subcommand_from completions man dump-log acls configs connect-standalone connect-distributed console-consumer console-producer consumer-groups consumer-perf-test get-offsets leader-election reassign-partitions producer-perf-test topics transactions server-start server-stop top zookeeper-shell zookeeper-start zookeeper-stop help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and __fish_seen_subcommand_from transactions" -f -a "list" -d 'List transactions'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and __fish_seen_subcommand_from transactions" -f -a "describe" -d 'Describe the state of an active transactional-id'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and __fish_seen_subcommand_from transactions" -f -a "describe-producers" -d 'Describe the states of active producers for a topic partition'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and __fish_seen_subcommand_from transactions" -f -a "find-hanging" -d 'Find hanging transactions'
complete -c kafka-rs -n "__fish_kafka_rs_using_subcommand help; and __fish_seen_subcommand_from transactions" -f -a "abort" -d 'Abort a hanging transaction (requires administrative privileges)'
