//! The consumer side of group membership's data: Kafka's
//! ConsumerProtocolSubscription and ConsumerProtocolAssignment encodings,
//! and the partition assignors a group leader runs (`range`,
//! `roundrobin`, `cooperative-sticky`), computing what Kafka's Java
//! assignors compute so mixed groups agree.
//!
//! ```text
//! Subscription v0: topics [string], user_data bytes?
//!              v1: + owned_partitions [topic string, partitions [int32]]
//!              v2: + generation_id int32     v3: + rack_id string?
//! Assignment   v0-v3: assigned_partitions [topic string, partitions [int32]], user_data bytes?
//! ```

use std::collections::{BTreeMap, BTreeSet};

/// What a member sends in JoinGroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscription {
    pub topics: Vec<String>,
    pub user_data: Option<Vec<u8>>,
    /// Partitions the member holds now (v1+, used by cooperative rebalancing).
    pub owned_partitions: BTreeMap<String, Vec<i32>>,
    /// -1 when unknown.
    pub generation_id: i32,
    pub rack_id: Option<String>,
}

/// What the leader hands each member in SyncGroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    pub partitions: BTreeMap<String, Vec<i32>>,
    pub user_data: Option<Vec<u8>>,
}

/// Why bytes are not a consumer-protocol message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed consumer protocol {what} at byte {position}")]
pub struct ProtocolError {
    pub what: &'static str,
    pub position: usize,
}

/// The version of Subscription we send: v1 carries owned partitions,
/// which cooperative-sticky needs, and every broker and client since 2.4
/// reads it.
pub const SUBSCRIPTION_VERSION: i16 = 1;

impl Subscription {
    pub fn encode(&self, version: i16) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(&version.to_be_bytes());
        put_array(&mut w, self.topics.iter(), |w, t| put_string(w, t));
        put_bytes(&mut w, self.user_data.as_deref());
        if version >= 1 {
            put_topic_partitions(&mut w, &self.owned_partitions);
        }
        if version >= 2 {
            w.extend_from_slice(&self.generation_id.to_be_bytes());
        }
        if version >= 3 {
            match &self.rack_id {
                Some(r) => put_string(&mut w, r),
                None => w.extend_from_slice(&(-1i16).to_be_bytes()),
            }
        }
        w
    }

    /// Reads any version; newer versions only append fields, so unknown
    /// trailing bytes are ignored as Kafka's reader does.
    pub fn decode(bytes: &[u8]) -> Result<Subscription, ProtocolError> {
        let mut r = Reader { buf: bytes, pos: 0, what: "subscription" };
        let version = r.i16()?;
        let mut s = Subscription { generation_id: -1, ..Subscription::default() };
        let n = r.count()?;
        for _ in 0..n {
            s.topics.push(r.string()?);
        }
        s.user_data = r.nullable_bytes()?;
        if version >= 1 && !r.at_end() {
            s.owned_partitions = r.topic_partitions()?;
        }
        if version >= 2 && !r.at_end() {
            s.generation_id = r.i32()?;
        }
        if version >= 3 && !r.at_end() {
            s.rack_id = r.nullable_string()?;
        }
        Ok(s)
    }
}

impl Assignment {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(&1i16.to_be_bytes());
        put_topic_partitions(&mut w, &self.partitions);
        put_bytes(&mut w, self.user_data.as_deref());
        w
    }

    /// An empty buffer is "nothing assigned", as Kafka's client treats it.
    pub fn decode(bytes: &[u8]) -> Result<Assignment, ProtocolError> {
        if bytes.is_empty() {
            return Ok(Assignment::default());
        }
        let mut r = Reader { buf: bytes, pos: 0, what: "assignment" };
        r.i16()?;
        let partitions = r.topic_partitions()?;
        let user_data = if r.at_end() { None } else { r.nullable_bytes()? };
        Ok(Assignment { partitions, user_data })
    }
}

fn put_string(w: &mut Vec<u8>, s: &str) {
    let len = s.len().min(i16::MAX as usize);
    w.extend_from_slice(&(len as i16).to_be_bytes());
    w.extend_from_slice(&s.as_bytes()[..len]);
}

fn put_bytes(w: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            w.extend_from_slice(&(b.len() as i32).to_be_bytes());
            w.extend_from_slice(b);
        }
        None => w.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

fn put_array<T>(
    w: &mut Vec<u8>,
    items: impl ExactSizeIterator<Item = T>,
    mut f: impl FnMut(&mut Vec<u8>, T),
) {
    w.extend_from_slice(&(items.len() as i32).to_be_bytes());
    for item in items {
        f(w, item);
    }
}

fn put_topic_partitions(w: &mut Vec<u8>, tps: &BTreeMap<String, Vec<i32>>) {
    put_array(w, tps.iter(), |w, (topic, parts)| {
        put_string(w, topic);
        put_array(w, parts.iter(), |w, p| w.extend_from_slice(&p.to_be_bytes()));
    });
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl Reader<'_> {
    fn err(&self) -> ProtocolError {
        ProtocolError { what: self.what, position: self.pos }
    }
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
    fn take(&mut self, n: usize) -> Result<&[u8], ProtocolError> {
        let end =
            self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| self.err())?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn i16(&mut self) -> Result<i16, ProtocolError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, ProtocolError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// An array count, bounded by the bytes left (each item is at least one byte).
    fn count(&mut self) -> Result<usize, ProtocolError> {
        let n = self.i32()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.buf.len() - self.pos => Ok(n),
            _ if n == -1 => Ok(0),
            _ => Err(self.err()),
        }
    }
    fn nullable_string(&mut self) -> Result<Option<String>, ProtocolError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let raw = self.take(len as usize)?;
        std::str::from_utf8(raw).map(|s| Some(s.to_string())).map_err(|_| self.err())
    }
    fn string(&mut self) -> Result<String, ProtocolError> {
        self.nullable_string()?.ok_or_else(|| self.err())
    }
    fn nullable_bytes(&mut self) -> Result<Option<Vec<u8>>, ProtocolError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        Ok(Some(self.take(len as usize)?.to_vec()))
    }
    fn topic_partitions(&mut self) -> Result<BTreeMap<String, Vec<i32>>, ProtocolError> {
        let mut out = BTreeMap::new();
        for _ in 0..self.count()? {
            let topic = self.string()?;
            let mut parts = Vec::new();
            for _ in 0..self.count()? {
                parts.push(self.i32()?);
            }
            out.entry(topic).or_insert_with(Vec::new).extend(parts);
        }
        Ok(out)
    }
}

/// A member as the assignors see it. Kafka orders members by
/// group.instance.id when both have one (KIP-345, so a restarted static
/// member keeps its place), else by member id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSubscription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub subscription: Subscription,
}

fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> std::cmp::Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// The assignors our consumer offers, in order of preference.
pub const ASSIGNORS: &[&str] = &["range", "roundrobin", "cooperative-sticky"];

/// Runs the named assignor. `partitions` gives each topic's partition
/// count; topics missing from it are skipped. `None` for an unknown name.
pub fn assign(
    name: &str,
    members: &[MemberSubscription],
    partitions: &BTreeMap<String, i32>,
) -> Option<BTreeMap<String, Assignment>> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| member_order(a, b));
    let plan = match name {
        "range" => range(&sorted, partitions),
        "roundrobin" => round_robin(&sorted, partitions),
        "cooperative-sticky" => cooperative_sticky(&sorted, partitions),
        _ => return None,
    };
    Some(
        members
            .iter()
            .map(|m| {
                let mut a = plan.get(&m.member_id).cloned().unwrap_or_default();
                for parts in a.values_mut() {
                    parts.sort_unstable();
                }
                (m.member_id.clone(), Assignment { partitions: a, user_data: None })
            })
            .collect(),
    )
}

type Plan = BTreeMap<String, BTreeMap<String, Vec<i32>>>;

fn give(plan: &mut Plan, member: &str, topic: &str, partition: i32) {
    plan.entry(member.to_string())
        .or_default()
        .entry(topic.to_string())
        .or_default()
        .push(partition);
}

/// Kafka's RangeAssignor: per topic, consecutive ranges in member order,
/// the first `n % c` members getting one extra.
fn range(members: &[&MemberSubscription], partitions: &BTreeMap<String, i32>) -> Plan {
    let mut plan = Plan::new();
    for (topic, &count) in partitions {
        let subscribed: Vec<&&MemberSubscription> =
            members.iter().filter(|m| m.subscription.topics.contains(topic)).collect();
        if subscribed.is_empty() || count <= 0 {
            continue;
        }
        let c = subscribed.len() as i32;
        let (per, extra) = (count / c, count % c);
        for (i, m) in subscribed.iter().enumerate() {
            let i = i as i32;
            let start = per * i + i.min(extra);
            let len = per + i32::from(i < extra);
            for p in start..start + len {
                give(&mut plan, &m.member_id, topic, p);
            }
        }
    }
    plan
}

/// Kafka's RoundRobinAssignor: every partition of every subscribed topic
/// in (topic, partition) order, dealt around the members, skipping members
/// not subscribed to its topic.
fn round_robin(members: &[&MemberSubscription], partitions: &BTreeMap<String, i32>) -> Plan {
    let mut plan = Plan::new();
    if members.is_empty() {
        return plan;
    }
    let mut next = 0usize;
    for (topic, &count) in partitions {
        if !members.iter().any(|m| m.subscription.topics.contains(topic)) {
            continue;
        }
        for p in 0..count.max(0) {
            loop {
                let m = members[next % members.len()];
                next += 1;
                if m.subscription.topics.contains(topic) {
                    give(&mut plan, &m.member_id, topic, p);
                    break;
                }
            }
        }
    }
    plan
}

/// Cooperative sticky (KIP-429): members keep the partitions they own as
/// long as the assignment stays balanced; the rest go to the least loaded
/// subscribers. A partition that changes hands is left out this round: its
/// owner revokes it and rejoins, and the next round hands it over, so no
/// partition is ever owned twice.
fn cooperative_sticky(members: &[&MemberSubscription], partitions: &BTreeMap<String, i32>) -> Plan {
    let all: Vec<(String, i32)> =
        partitions.iter().flat_map(|(t, &n)| (0..n.max(0)).map(move |p| (t.clone(), p))).collect();
    let mut load: BTreeMap<&str, usize> =
        members.iter().map(|m| (m.member_id.as_str(), 0)).collect();
    let mut owner: BTreeMap<(String, i32), &str> = BTreeMap::new();
    // Who held what, for partitions that still exist and are still
    // subscribed; a partition claimed by two members stays with neither.
    let mut claims: BTreeMap<(String, i32), Vec<&str>> = BTreeMap::new();
    for m in members {
        for (t, parts) in &m.subscription.owned_partitions {
            if !m.subscription.topics.contains(t) {
                continue;
            }
            for &p in parts {
                if partitions.get(t).is_some_and(|&n| p >= 0 && p < n) {
                    claims.entry((t.clone(), p)).or_default().push(&m.member_id);
                }
            }
        }
    }
    let subscribers = |topic: &str| -> usize {
        members.iter().filter(|m| m.subscription.topics.iter().any(|t| t == topic)).count()
    };
    let total_subscribed: usize = all.iter().filter(|(t, _)| subscribers(t) > 0).count();
    let max_per_member =
        if members.is_empty() { 0 } else { total_subscribed.div_ceil(members.len()) };
    let mut previous: BTreeMap<(String, i32), &str> = BTreeMap::new();
    for (tp, who) in &claims {
        if let [only] = who.as_slice() {
            previous.insert(tp.clone(), only);
            if load[only] < max_per_member {
                owner.insert(tp.clone(), only);
                *load.get_mut(only).unwrap_or(&mut 0) += 1;
            }
        }
    }
    for (t, p) in &all {
        let tp = (t.clone(), *p);
        if owner.contains_key(&tp) {
            continue;
        }
        let best = members
            .iter()
            .filter(|m| m.subscription.topics.contains(t))
            .min_by_key(|m| (load[m.member_id.as_str()], m.member_id.as_str()))
            .map(|m| m.member_id.as_str());
        if let Some(best) = best {
            owner.insert(tp, best);
            *load.get_mut(best).unwrap_or(&mut 0) += 1;
        }
    }
    let mut plan = Plan::new();
    for ((t, p), m) in owner {
        // Still owned by someone else: that member must revoke it first.
        if previous.get(&(t.clone(), p)).is_some_and(|prev| *prev != m) {
            continue;
        }
        give(&mut plan, m, &t, p);
    }
    plan
}

/// Topics subscribed by any member, for the leader's metadata lookup.
pub fn subscribed_topics(members: &[MemberSubscription]) -> BTreeSet<String> {
    members.iter().flat_map(|m| m.subscription.topics.iter().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            group_instance_id: None,
            subscription: Subscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                generation_id: -1,
                ..Default::default()
            },
        }
    }

    fn parts(a: &BTreeMap<String, Assignment>, m: &str, t: &str) -> Vec<i32> {
        a[m].partitions.get(t).cloned().unwrap_or_default()
    }

    #[test]
    fn subscription_and_assignment_roundtrip() {
        let s = Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(vec![1, 2]),
            owned_partitions: [("a".to_string(), vec![0, 3])].into(),
            generation_id: 7,
            rack_id: Some("r1".into()),
        };
        for v in 0..=3 {
            let back = Subscription::decode(&s.encode(v)).unwrap();
            assert_eq!(back.topics, s.topics, "v{v}");
            assert_eq!(back.owned_partitions.is_empty(), v == 0, "v{v}");
        }
        assert_eq!(Subscription::decode(&s.encode(3)).unwrap(), s);
        let a = Assignment { partitions: [("t".to_string(), vec![1, 2])].into(), user_data: None };
        assert_eq!(Assignment::decode(&a.encode()).unwrap(), a);
        assert_eq!(
            Assignment::decode(&[]).unwrap(),
            Assignment::default(),
            "empty bytes: nothing assigned"
        );
        // Kafka's Java client bytes for Subscription v0 {topics: [t]} with null user data.
        assert_eq!(
            member("m", &["t"]).subscription.encode(0),
            b"\0\0\0\0\0\x01\0\x01t\xff\xff\xff\xff"
        );
    }

    #[test]
    fn hostile_bytes_are_errors() {
        for bad in [&b"\0"[..], b"\0\0\x7f\xff\xff\xff", b"\0\0\0\0\0\x01\0\x09ab"] {
            assert!(Subscription::decode(bad).is_err(), "{bad:?}");
        }
        assert!(Assignment::decode(b"\0\0\0\0\0\x01\0\x01t\x7f\xff\xff\xff").is_err());
    }

    #[test]
    fn range_matches_kafka() {
        let members = [member("c1", &["t"]), member("c2", &["t"]), member("c3", &["t"])];
        let a = assign("range", &members, &[("t".to_string(), 7)].into()).unwrap();
        assert_eq!(parts(&a, "c1", "t"), vec![0, 1, 2], "the first n % c members get one extra");
        assert_eq!(parts(&a, "c2", "t"), vec![3, 4]);
        assert_eq!(parts(&a, "c3", "t"), vec![5, 6]);
        let five: Vec<_> = (0..5).map(|i| member(&format!("m{i}"), &["t"])).collect();
        let a = assign("range", &five, &[("t".to_string(), 4)].into()).unwrap();
        let sizes: Vec<usize> = five.iter().map(|m| parts(&a, &m.member_id, "t").len()).collect();
        assert_eq!(sizes, vec![1, 1, 1, 1, 0], "a fifth member idles");
    }

    #[test]
    fn range_orders_static_members_by_instance_id() {
        let mut a = member("zzz", &["t"]);
        a.group_instance_id = Some("i1".into());
        let mut b = member("aaa", &["t"]);
        b.group_instance_id = Some("i2".into());
        let r = assign("range", &[a, b], &[("t".to_string(), 2)].into()).unwrap();
        assert_eq!(
            parts(&r, "zzz", "t"),
            vec![0],
            "i1 sorts first although its member id does not"
        );
    }

    #[test]
    fn round_robin_matches_kafka() {
        let members = [member("c1", &["t1", "t2"]), member("c2", &["t1"])];
        let topics: BTreeMap<String, i32> = [("t1".to_string(), 3), ("t2".to_string(), 2)].into();
        let a = assign("roundrobin", &members, &topics).unwrap();
        assert_eq!(parts(&a, "c1", "t1"), vec![0, 2]);
        assert_eq!(parts(&a, "c2", "t1"), vec![1]);
        assert_eq!(parts(&a, "c1", "t2"), vec![0, 1], "c2 is skipped for a topic it does not want");
    }

    #[test]
    fn cooperative_sticky_keeps_owned_and_never_double_assigns() {
        let topics: BTreeMap<String, i32> = [("t".to_string(), 4)].into();
        let mut a = member("a", &["t"]);
        a.subscription.owned_partitions = [("t".to_string(), vec![0, 1, 2, 3])].into();
        let b = member("b", &["t"]);
        // a owns everything; b joins: a keeps two, the other two are
        // withheld until a revokes them.
        let r = assign("cooperative-sticky", &[a.clone(), b.clone()], &topics).unwrap();
        assert_eq!(parts(&r, "a", "t").len(), 2);
        assert!(parts(&r, "b", "t").is_empty(), "nothing moves in the same round");
        // Next round a owns its two: b gets the rest.
        a.subscription.owned_partitions = [("t".to_string(), parts(&r, "a", "t"))].into();
        let r2 = assign("cooperative-sticky", &[a, b], &topics).unwrap();
        let mut all: Vec<i32> =
            parts(&r2, "a", "t").into_iter().chain(parts(&r2, "b", "t")).collect();
        all.sort();
        assert_eq!(all, vec![0, 1, 2, 3]);
        assert_eq!(parts(&r2, "b", "t").len(), 2);
    }

    #[test]
    fn unknown_assignor_is_none() {
        assert!(assign("sticky-ish", &[], &BTreeMap::new()).is_none());
    }
}
