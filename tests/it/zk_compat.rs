//! Where a real client sees our ZooKeeper server and Apache ZooKeeper 3.8
//! side by side on the wire: the CONTAINER flag on a plain create/create2
//! (accepted, and a persistent node made), and getACL masking digest
//! passwords, not user names, for a client without ADMIN.

use std::time::Duration;

use crate::support;
use crate::zk_harness::{self, create_body, path_body, string, Raw, ZkServer};

use kafka_rs::zk::proto::op::{CREATE, CREATE2, CREATE_CONTAINER, DELETE, EXISTS, GET_ACL};

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
