//! Where a real client sees our ZooKeeper server and Apache ZooKeeper 3.8
//! side by side on the wire: the CONTAINER flag on a plain create/create2
//! (accepted, and a persistent node made), and getACL masking digest
//! passwords, not user names, for a client without ADMIN, and null data
//! kept apart from empty data.

use std::time::Duration;

use crate::support;
use crate::zk_harness::{
    self, create_body, create_body_nullable, path_body, string, Raw, ZkServer,
};

use kafka_rs::zk::proto::op::{
    CREATE, CREATE2, CREATE_CONTAINER, DELETE, EXISTS, GET_ACL, GET_DATA, SET_DATA,
};

/// `CreateMode.CONTAINER`'s flag.
const CONTAINER: i32 = 4;
const NO_NODE: i32 = -101;

/// Our server and, where installed, Apache's, both checking containers
/// every 50 ms (a zoo.cfg key for ours, a system property for Apache's).
fn servers() -> Vec<ZkServer> {
    let mut v = vec![zk_harness::start_ours("znode.container.checkIntervalMs=50")];
    v.extend(zk_harness::start_apache_with("", &["-Dznode.container.checkIntervalMs=50"]));
    v
}

fn delete_body(path: &str) -> Vec<u8> {
    let mut b = Vec::new();
    string(&mut b, path.as_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b
}

#[test]
fn the_container_flag_on_create_and_create2_makes_a_persistent_node_as_in_apache() {
    let mut outcomes = Vec::new();
    for s in servers() {
        let mut c = Raw::connect(s.port, 30_000).unwrap();
        let mut seen = Vec::new();
        // createContainer first: once its emptied container is gone, the
        // container check has run with the others' children gone too.
        let ops = [(CREATE_CONTAINER, "/box19"), (CREATE2, "/box15"), (CREATE, "/box1")];
        for (i, (op, path)) in ops.into_iter().enumerate() {
            let xid = i as i32 * 10;
            let made = c.call(xid + 1, op, &create_body(path, b"", CONTAINER)).unwrap();
            let child = format!("{path}/x");
            let added = c.call(xid + 2, CREATE, &create_body(&child, b"", 0)).unwrap();
            let removed = c.call(xid + 3, DELETE, &delete_body(&child)).unwrap();
            seen.push((op, made.err, added.err, removed.err));
        }
        let what = format!("{}: the emptied container to go", s.kind);
        support::wait_until(Duration::from_secs(60), &what, || {
            c.call(90, EXISTS, &path_body("/box19", false)).unwrap().err == NO_NODE
        });
        // A later pass of the check would find the others too, if they
        // were containers: wait for one more to have run.
        let mut marker = Raw::connect(s.port, 30_000).unwrap();
        assert_eq!(
            marker.call(1, CREATE_CONTAINER, &create_body("/mark", b"", CONTAINER)).unwrap().err,
            0
        );
        assert_eq!(marker.call(2, CREATE, &create_body("/mark/x", b"", 0)).unwrap().err, 0);
        assert_eq!(marker.call(3, DELETE, &delete_body("/mark/x")).unwrap().err, 0);
        support::wait_until(Duration::from_secs(60), &what, || {
            marker.call(4, EXISTS, &path_body("/mark", false)).unwrap().err == NO_NODE
        });
        for (i, path) in ["/box15", "/box1"].into_iter().enumerate() {
            let r = c.call(100 + i as i32, EXISTS, &path_body(path, false)).unwrap();
            seen.push((EXISTS, r.err, 0, 0));
        }
        outcomes.push((s.kind, seen));
    }
    for (kind, seen) in &outcomes {
        assert_eq!(
            seen,
            &[
                (CREATE_CONTAINER, 0, 0, 0),
                (CREATE2, 0, 0, 0),
                (CREATE, 0, 0, 0),
                (EXISTS, 0, 0, 0),
                (EXISTS, 0, 0, 0)
            ],
            "{kind}: only createContainer makes a container"
        );
    }
}

/// `CreateRequest` with `acl` as (perms, scheme, id).
fn create_with_acl(path: &str, acl: &[(i32, &str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    string(&mut b, path.as_bytes());
    string(&mut b, b"d");
    b.extend_from_slice(&(acl.len() as i32).to_be_bytes());
    for (perms, scheme, id) in acl {
        b.extend_from_slice(&perms.to_be_bytes());
        string(&mut b, scheme.as_bytes());
        string(&mut b, id.as_bytes());
    }
    b.extend_from_slice(&0i32.to_be_bytes());
    b
}

/// The ACL list of a GetACLResponse body.
fn read_acl(body: &[u8]) -> Vec<(i32, String, String)> {
    let int = |at: usize| i32::from_be_bytes(body[at..at + 4].try_into().unwrap());
    let mut at = 4;
    let text = |at: &mut usize| {
        let n = int(*at) as usize;
        let s = String::from_utf8_lossy(&body[*at + 4..*at + 4 + n]).into_owned();
        *at += 4 + n;
        s
    };
    (0..int(0))
        .map(|_| {
            let perms = int(at);
            at += 4;
            let scheme = text(&mut at);
            let id = text(&mut at);
            (perms, scheme, id)
        })
        .collect()
}

#[test]
fn get_acl_without_admin_masks_only_the_digest_password_as_apache_does() {
    let acl = [(31, "digest", "user1:QtJeR5Wd/yDmaBzOo1mb9v+pLNg="), (1, "world", "anyone")];
    let mut answers = Vec::new();
    for s in servers() {
        let mut c = Raw::connect(s.port, 30_000).unwrap();
        let made = c.call(1, CREATE, &create_with_acl("/guarded", &acl)).unwrap();
        assert_eq!(made.err, 0, "{}", s.kind);
        let mut get = Vec::new();
        string(&mut get, b"/guarded");
        let r = c.call(2, GET_ACL, &get).unwrap();
        assert_eq!(r.err, 0, "{}", s.kind);
        answers.push((s.kind, read_acl(&r.body)));
    }
    for (kind, shown) in &answers {
        assert_eq!(
            shown,
            &[(31, "digest".into(), "user1:x".into()), (1, "world".into(), "anyone".into())],
            "{kind}"
        );
    }
}

/// What getData answers for `path`: the data's length field as sent (-1
/// for null) and the stat's dataLength.
fn data_lengths(c: &mut Raw, xid: i32, path: &str) -> (i32, i32) {
    let r = c.call(xid, GET_DATA, &path_body(path, false)).unwrap();
    assert_eq!(r.err, 0, "getData {path}");
    let int = |at: usize| i32::from_be_bytes(r.body[at..at + 4].try_into().unwrap());
    let len = int(0);
    // The stat follows the data; dataLength sits after four longs, three
    // ints and the ephemeral owner.
    let stat = 4 + len.max(0) as usize;
    (len, int(stat + 52))
}

/// The lengths getData shows for a node created null, one created empty
/// and the empty one once set to null.
fn null_and_empty(c: &mut Raw) -> Vec<(i32, i32)> {
    assert_eq!(c.call(1, CREATE2, &create_body_nullable("/nul", None, 0)).unwrap().err, 0);
    assert_eq!(c.call(2, CREATE, &create_body("/emp", b"", 0)).unwrap().err, 0);
    let mut seen = vec![data_lengths(c, 3, "/nul"), data_lengths(c, 4, "/emp")];
    let mut set = Vec::new();
    string(&mut set, b"/emp");
    set.extend_from_slice(&(-1i32).to_be_bytes());
    set.extend_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(c.call(5, SET_DATA, &set).unwrap().err, 0);
    seen.push(data_lengths(c, 6, "/emp"));
    seen
}

#[test]
fn null_data_reads_back_null_not_empty_as_in_apache() {
    let expected = [(-1, 0), (0, 0), (-1, 0)];
    for s in servers() {
        let mut c = Raw::connect(s.port, 30_000).unwrap();
        assert_eq!(null_and_empty(&mut c), expected, "{}", s.kind);
    }
    // Ours keeps null through its transaction log and snapshot.
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut server = zk_harness::spawn_ours(dir.path(), port, "");
    let mut c = Raw::connect(port, 30_000).unwrap();
    null_and_empty(&mut c);
    drop(c);
    server.kill9();
    for round in 0..2 {
        // The first start replays the log (and snapshots); the second loads that snapshot.
        let again = zk_harness::spawn_ours(dir.path(), port, "");
        let mut c = Raw::connect(port, 30_000).unwrap();
        let seen = [data_lengths(&mut c, 1, "/nul"), data_lengths(&mut c, 2, "/emp")];
        assert_eq!(seen, [(-1, 0), (-1, 0)], "after restart {round}");
        drop(c);
        drop(again);
    }
}
