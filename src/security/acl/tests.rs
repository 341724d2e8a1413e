//! The rules of Kafka's `AclAuthorizer`, one case per rule, named after the
//! cases of Kafka's `AclAuthorizerTest`.

use super::*;

const ALICE: &str = "User:alice";
const BOB: &str = "User:bob";
const HOST: &str = "192.168.0.1";

fn ctx(principal: &str) -> RequestContext<'_> {
    RequestContext { principal, host: HOST }
}

fn entry(principal: &str, host: &str, op: AclOperation, perm: Permission) -> AccessControlEntry {
    AccessControlEntry {
        principal: principal.into(),
        host: host.into(),
        operation: op,
        permission: perm,
    }
}

fn cache(acls: &[(ResourcePattern, AccessControlEntry)]) -> AclIndex {
    let mut c = AclCache::default();
    for (p, e) in acls {
        c.add(AclBinding { pattern: p.clone(), entry: e.clone() });
    }
    AclIndex::from(c)
}

fn topic(name: &str) -> ResourcePattern {
    ResourcePattern::literal(ResourceType::Topic, name)
}

fn prefixed(name: &str) -> ResourcePattern {
    ResourcePattern {
        resource_type: ResourceType::Topic,
        name: name.into(),
        pattern_type: PatternType::Prefixed,
    }
}

fn allows(c: &AclIndex, principal: &str, op: AclOperation, name: &str) -> bool {
    c.authorize(&AuthorizerConfig::default(), ctx(principal), op, ResourceType::Topic, name)
}

use AclOperation::*;
use Permission::*;

#[test]
fn test_no_acl_found_denies_by_default() {
    assert!(!allows(&AclIndex::default(), ALICE, Read, "t"));
}

#[test]
fn test_no_acl_found_override_allows_everyone() {
    let config = AuthorizerConfig { allow_everyone_if_no_acl_found: true, ..Default::default() };
    let c = cache(&[(topic("other"), entry(BOB, "*", Read, Allow))]);
    assert!(c.authorize(&config, ctx(ALICE), Read, ResourceType::Topic, "t"), "t has no ACL");
    assert!(
        !c.authorize(&config, ctx(ALICE), Read, ResourceType::Topic, "other"),
        "an ACL for someone else closes the resource to everyone else"
    );
}

#[test]
fn test_super_user_has_access() {
    let config = AuthorizerConfig {
        super_users: AuthorizerConfig::parse_super_users("User:admin; User:broker"),
        ..Default::default()
    };
    let c = cache(&[(topic("t"), entry(WILDCARD_PRINCIPAL, "*", All, Deny))]);
    assert!(c.authorize(&config, ctx("User:broker"), Write, ResourceType::Topic, "t"));
    assert!(!c.authorize(&config, ctx(ALICE), Write, ResourceType::Topic, "t"));
}

#[test]
fn test_deny_takes_precedence() {
    let c = cache(&[
        (topic("t"), entry(ALICE, "*", Read, Allow)),
        (topic("t"), entry(ALICE, HOST, Read, Deny)),
    ]);
    assert!(!allows(&c, ALICE, Read, "t"));
}

#[test]
fn test_deny_on_wildcard_resource_beats_literal_allow() {
    let c = cache(&[
        (topic("t"), entry(ALICE, "*", Write, Allow)),
        (topic("*"), entry(ALICE, "*", All, Deny)),
    ]);
    assert!(!allows(&c, ALICE, Write, "t"));
}

#[test]
fn test_allow_all_access() {
    let c = cache(&[(topic("t"), entry(WILDCARD_PRINCIPAL, "*", All, Allow))]);
    for op in ResourceType::Topic.supported_operations() {
        assert!(allows(&c, ALICE, *op, "t"), "{op}");
    }
}

#[test]
fn test_host_address_acl_validation() {
    let c = cache(&[(topic("t"), entry(ALICE, "10.0.0.1", Read, Allow))]);
    assert!(!allows(&c, ALICE, Read, "t"), "an ACL for another host does not apply");
    let c = cache(&[(topic("t"), entry(ALICE, HOST, Read, Allow))]);
    assert!(allows(&c, ALICE, Read, "t"));
}

#[test]
fn test_describe_implied_by_read_write_delete_alter() {
    for op in [Read, Write, Delete, Alter] {
        let c = cache(&[(topic("t"), entry(ALICE, "*", op, Allow))]);
        assert!(allows(&c, ALICE, Describe, "t"), "{op} implies DESCRIBE");
    }
    let c = cache(&[(topic("t"), entry(ALICE, "*", Create, Allow))]);
    assert!(!allows(&c, ALICE, Describe, "t"), "CREATE does not imply DESCRIBE");
    let c = cache(&[(topic("t"), entry(ALICE, "*", Read, Allow))]);
    assert!(!allows(&c, ALICE, Write, "t"), "nothing but DESCRIBE is implied");
}

#[test]
fn test_describe_configs_implied_by_alter_configs() {
    let c = cache(&[(topic("t"), entry(ALICE, "*", AlterConfigs, Allow))]);
    assert!(allows(&c, ALICE, DescribeConfigs, "t"));
    assert!(!allows(&c, ALICE, Describe, "t"));
}

#[test]
fn test_deny_of_read_does_not_deny_describe() {
    let c = cache(&[
        (topic("t"), entry(ALICE, "*", Write, Allow)),
        (topic("t"), entry(ALICE, "*", Read, Deny)),
    ]);
    assert!(allows(&c, ALICE, Describe, "t"), "Kafka denies only the operation named (or ALL)");
}

#[test]
fn test_wildcard_principal_and_resource() {
    let c = cache(&[(topic("*"), entry(WILDCARD_PRINCIPAL, "*", Read, Allow))]);
    assert!(allows(&c, ALICE, Read, "any-topic"));
    assert!(!allows(&c, ALICE, Write, "any-topic"));
}

#[test]
fn test_prefixed_acls_match_names_that_start_with_the_prefix() {
    let c = cache(&[(prefixed("pay-"), entry(ALICE, "*", Write, Allow))]);
    assert!(allows(&c, ALICE, Write, "pay-eu"));
    assert!(allows(&c, ALICE, Write, "pay-"));
    assert!(!allows(&c, ALICE, Write, "pa"));
    assert!(!allows(&c, ALICE, Write, "x-pay-eu"));
}

#[test]
fn test_prefixed_deny_beats_literal_allow() {
    let c = cache(&[
        (topic("pay-eu"), entry(ALICE, "*", Write, Allow)),
        (prefixed("pay"), entry(ALICE, "*", Write, Deny)),
    ]);
    assert!(!allows(&c, ALICE, Write, "pay-eu"));
}

#[test]
fn test_authorize_by_resource_type_for_idempotent_producers() {
    let config = AuthorizerConfig::default();
    let c = cache(&[(prefixed("pay-"), entry(ALICE, "*", Write, Allow))]);
    assert!(c.authorize_any(&config, ctx(ALICE), Write, ResourceType::Topic));
    assert!(!c.authorize_any(&config, ctx(BOB), Write, ResourceType::Topic));
    let c = cache(&[
        (prefixed("pay-"), entry(ALICE, "*", Write, Allow)),
        (topic("*"), entry(ALICE, "*", Write, Deny)),
    ]);
    assert!(
        !c.authorize_any(&config, ctx(ALICE), Write, ResourceType::Topic),
        "a wildcard deny takes it away"
    );
}

#[test]
fn test_authorized_operations_bit_field_kip_430() {
    let c = cache(&[(topic("t"), entry(ALICE, "*", Read, Allow))]);
    let bits =
        c.authorized_operations(&AuthorizerConfig::default(), ctx(ALICE), ResourceType::Topic, "t");
    assert_eq!(bits, (1 << Read.code()) | (1 << Describe.code()));
    assert_eq!(operations_bit_field([All]), 1 << 2);
}

#[test]
fn test_filters_match_as_kafkas_binding_filters() {
    let b = AclBinding { pattern: prefixed("pay-"), entry: entry(ALICE, "*", Write, Allow) };
    let match_name = AclBindingFilter {
        name: Some("pay-eu".into()),
        pattern: PatternFilter::Match,
        ..Default::default()
    };
    assert!(match_name.matches(&b), "MATCH finds the prefix that applies to a name");
    let exact = AclBindingFilter {
        name: Some("pay-eu".into()),
        pattern: PatternFilter::Any,
        ..Default::default()
    };
    assert!(!exact.matches(&b), "ANY compares names exactly");
    let literal =
        AclBindingFilter { pattern: PatternFilter::Is(PatternType::Literal), ..Default::default() };
    assert!(!literal.matches(&b));
    let deny = AclBindingFilter { permission: Some(Deny), ..Default::default() };
    assert!(!deny.matches(&b));
    assert!(AclBindingFilter::default().matches(&b));
}

#[test]
fn test_znode_json_is_kafkas() {
    let mut set = BTreeSet::new();
    set.insert(entry(ALICE, "*", DescribeConfigs, Allow));
    let json = entries_to_json(&set);
    assert_eq!(
        String::from_utf8(json.clone()).unwrap(),
        r#"{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"DescribeConfigs","host":"*"}]}"#
    );
    assert_eq!(entries_from_json(&json).unwrap(), set);
}

#[test]
fn test_validation_refuses_what_kafka_refuses() {
    let ok = AclBinding { pattern: topic("t"), entry: entry(ALICE, "*", Read, Allow) };
    assert!(validate_binding(&ok).is_ok());
    let mut bad = ok.clone();
    bad.pattern = ResourcePattern::literal(ResourceType::Cluster, "c");
    assert!(validate_binding(&bad).unwrap_err().contains("kafka-cluster"));
    let mut bad = ok.clone();
    bad.entry.principal = "alice".into();
    assert!(validate_binding(&bad).is_err());
    let mut bad = ok;
    bad.entry.operation = ClusterAction;
    assert!(validate_binding(&bad).is_err(), "CLUSTER_ACTION on a topic");
}

#[test]
fn test_names_parse_in_either_spelling() {
    assert_eq!(AclOperation::parse("IdempotentWrite"), Some(IdempotentWrite));
    assert_eq!(AclOperation::parse("idempotent-write"), Some(IdempotentWrite));
    assert_eq!(AclOperation::parse("DESCRIBE_CONFIGS"), Some(DescribeConfigs));
    assert_eq!(ResourceType::parse("TransactionalId"), Some(ResourceType::TransactionalId));
    assert_eq!(PatternType::parse("prefixed"), Some(PatternType::Prefixed));
}

fn group(name: &str) -> ResourcePattern {
    ResourcePattern::literal(ResourceType::Group, name)
}

#[test]
fn index_finds_prefixes_of_every_length_and_only_prefixes() {
    let c = cache(&[
        (prefixed("a"), entry(ALICE, "*", Read, Allow)),
        (prefixed("pay-"), entry(ALICE, "*", Write, Allow)),
        (prefixed("pay-eu-"), entry(ALICE, "*", Write, Deny)),
        (prefixed("pay-us-west-"), entry(BOB, "*", Write, Allow)),
    ]);
    assert!(allows(&c, ALICE, Write, "pay-us-west-2"), "pay- applies; pay-us-west- is Bob's");
    assert!(!allows(&c, BOB, Write, "pay-us-east-1"), "pay-us-west- is not a prefix of it");
    assert!(allows(&c, BOB, Write, "pay-us-west-"));
    assert!(!allows(&c, ALICE, Write, "pay-eu-1"), "the longer prefix's DENY wins");
    assert!(allows(&c, ALICE, Read, "abc"), "a one-character prefix");
    assert!(!allows(&c, ALICE, Write, "pay"), "shorter than every Write prefix");
}

#[test]
fn index_prefix_lengths_that_cut_a_character_do_not_match() {
    // "é" is two bytes: a one-byte prefix pattern cannot be part of it.
    let c = cache(&[
        (prefixed("x"), entry(ALICE, "*", Read, Allow)),
        (prefixed("é"), entry(BOB, "*", Read, Allow)),
    ]);
    assert!(allows(&c, BOB, Read, "été"));
    assert!(!allows(&c, ALICE, Read, "été"));
    assert!(allows(&c, ALICE, Read, "xé"));
}

#[test]
fn index_literal_prefixed_and_wildcard_patterns_match_differently() {
    let c = cache(&[(topic("pay"), entry(ALICE, "*", Read, Allow))]);
    assert!(allows(&c, ALICE, Read, "pay"));
    assert!(!allows(&c, ALICE, Read, "pay-eu"), "a literal name is not a prefix");
    let c = cache(&[(prefixed("*"), entry(ALICE, "*", Read, Allow))]);
    assert!(!allows(&c, ALICE, Read, "orders"), "a prefixed `*` is no wildcard");
    assert!(allows(&c, ALICE, Read, "*orders"));
    let c = cache(&[(topic("*"), entry(ALICE, "*", Read, Allow))]);
    assert!(allows(&c, ALICE, Read, "orders"));
    assert!(allows(&c, ALICE, Read, "*"), "the wildcard pattern asked about by name");
}

#[test]
fn index_keeps_resource_types_apart() {
    let config = AuthorizerConfig { allow_everyone_if_no_acl_found: true, ..Default::default() };
    let c = cache(&[(group("orders"), entry(BOB, "*", Read, Allow))]);
    assert!(c.authorize(&config, ctx(ALICE), Read, ResourceType::Topic, "orders"));
    assert!(!c.authorize(&config, ctx(ALICE), Read, ResourceType::Group, "orders"));
    assert!(c.authorize(&config, ctx(ALICE), Read, ResourceType::Group, "billing"));
}

#[test]
fn index_deny_beats_allow_whichever_pattern_carries_it() {
    let allow_all = [
        (topic("pay-eu"), entry(ALICE, "*", Write, Allow)),
        (topic("*"), entry(WILDCARD_PRINCIPAL, "*", All, Allow)),
        (prefixed("pay-"), entry(ALICE, "*", Write, Allow)),
    ];
    assert!(allows(&cache(&allow_all), ALICE, Write, "pay-eu"));
    for deny in [topic("pay-eu"), topic("*"), prefixed("p"), prefixed("pay-eu")] {
        for principal in [ALICE, WILDCARD_PRINCIPAL] {
            let mut acls = allow_all.to_vec();
            acls.push((deny.clone(), entry(principal, "*", Write, Deny)));
            assert!(!allows(&cache(&acls), ALICE, Write, "pay-eu"), "{deny} for {principal}");
            assert!(allows(&cache(&acls), ALICE, Read, "pay-eu"), "only WRITE is denied");
        }
    }
    let mut acls = allow_all.to_vec();
    acls.push((prefixed("pay-"), entry(BOB, "*", Write, Deny)));
    assert!(allows(&cache(&acls), ALICE, Write, "pay-eu"), "Bob's DENY is Bob's");
}

#[test]
fn index_rebuilt_from_the_acls_sees_each_addition_and_removal() {
    let mut acls = AclCache::default();
    let allow = AclBinding { pattern: prefixed("pay-"), entry: entry(ALICE, "*", Write, Allow) };
    let deny = AclBinding { pattern: topic("pay-eu"), entry: entry(ALICE, "*", Write, Deny) };
    assert!(!allows(&AclIndex::from(acls.clone()), ALICE, Write, "pay-eu"));
    acls.add(allow.clone());
    assert!(allows(&AclIndex::from(acls.clone()), ALICE, Write, "pay-eu"));
    acls.add(deny.clone());
    let index = AclIndex::from(acls.clone());
    assert_eq!(index.len(), 2);
    assert!(!allows(&index, ALICE, Write, "pay-eu"));
    assert!(allows(&index, ALICE, Write, "pay-us"));
    acls.acls.remove(&deny.pattern);
    assert!(allows(&AclIndex::from(acls.clone()), ALICE, Write, "pay-eu"));
    acls.acls.remove(&allow.pattern);
    assert!(AclIndex::from(acls.clone()).is_empty());
    assert!(!allows(&AclIndex::from(acls.clone()), ALICE, Write, "pay-eu"));
}

/// Kafka's rules straight from their definition, one binding at a time,
/// with the filter that finds the patterns applying to a name (MATCH).
fn reference(bindings: &[AclBinding], principal: &str, op: AclOperation, name: &str) -> bool {
    let applies = AclBindingFilter {
        resource_type: Some(ResourceType::Topic),
        name: Some(name.into()),
        pattern: PatternFilter::Match,
        ..Default::default()
    };
    let on_resource: Vec<_> =
        bindings.iter().filter(|b| applies.matches_pattern(&b.pattern)).collect();
    if on_resource.is_empty() {
        return false;
    }
    let mine = |b: &&&AclBinding| {
        (b.entry.principal == principal || b.entry.principal == WILDCARD_PRINCIPAL)
            && (b.entry.host == HOST || b.entry.host == WILDCARD)
    };
    let denied = on_resource.iter().filter(mine).any(|b| {
        b.entry.permission == Deny && matches!(b.entry.operation, o if o == op || o == All)
    });
    let implies = |granted: AclOperation| {
        granted == All
            || granted == op
            || (op == Describe && matches!(granted, Read | Write | Delete | Alter))
            || (op == DescribeConfigs && granted == AlterConfigs)
    };
    !denied
        && on_resource
            .iter()
            .filter(mine)
            .any(|b| b.entry.permission == Allow && implies(b.entry.operation))
}

#[test]
fn index_agrees_with_the_rules_over_a_thousand_acls() {
    // A fixed pseudo-random mix of literal, prefixed and wildcard patterns
    // over the names of up to three letters of a, b, c, with principals,
    // hosts, operations and permissions.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut names = vec![String::from("*")];
    for len in 1..=3u32 {
        for i in 0..3usize.pow(len) {
            let letter = |d: u32| (b'a' + (i / 3usize.pow(d) % 3) as u8) as char;
            names.push((0..len).map(letter).collect());
        }
    }
    let asked: Vec<&str> =
        names.iter().map(String::as_str).chain(["abca", "cccc", "d", ""]).collect();
    let principals = [ALICE, BOB, "User:carol", "User:dave", WILDCARD_PRINCIPAL];
    let ops = [Read, Write, Describe, All, Alter, AlterConfigs, DescribeConfigs];
    let mut acls = AclCache::default();
    let mut bindings = Vec::new();
    let mut outcomes = [0usize; 2];
    while bindings.len() < 1000 {
        let name = &names[next(names.len())];
        let pattern = if next(2) == 0 { topic(name) } else { prefixed(name) };
        let host = ["10.0.0.9", HOST, "*", "*"][next(4)];
        let permission = if next(10) == 0 { Deny } else { Allow };
        let e = entry(principals[next(principals.len())], host, ops[next(ops.len())], permission);
        let b = AclBinding { pattern, entry: e };
        if !acls.add(b.clone()) {
            continue;
        }
        bindings.push(b);
        // Checked as the set grows, so few and many ACLs are both covered.
        if bindings.len() % 50 != 1 {
            continue;
        }
        let index = AclIndex::from(acls.clone());
        for name in &asked {
            for op in ops {
                for p in [ALICE, BOB] {
                    let want = reference(&bindings, p, op, name);
                    outcomes[want as usize] += 1;
                    assert_eq!(
                        allows(&index, p, op, name),
                        want,
                        "{p} {op} {name} with {} ACLs",
                        bindings.len()
                    );
                }
            }
        }
    }
    let [denied, allowed] = outcomes;
    assert!(denied > 1000 && allowed > 1000, "{denied} denied, {allowed} allowed: too one-sided");
}
