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

fn cache(acls: &[(ResourcePattern, AccessControlEntry)]) -> AclCache {
    let mut c = AclCache::default();
    for (p, e) in acls {
        c.add(AclBinding { pattern: p.clone(), entry: e.clone() });
    }
    c
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

fn allows(c: &AclCache, principal: &str, op: AclOperation, name: &str) -> bool {
    c.authorize(&AuthorizerConfig::default(), ctx(principal), op, ResourceType::Topic, name)
}

use AclOperation::*;
use Permission::*;

#[test]
fn test_no_acl_found_denies_by_default() {
    assert!(!allows(&AclCache::default(), ALICE, Read, "t"));
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
