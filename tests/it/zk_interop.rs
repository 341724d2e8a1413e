//! One script of ZooKeeper operations per third-party client (kazoo, the
//! `zookeeper-client` crate, Apache's zkCli.sh), each run against our server
//! and against Apache ZooKeeper 3.8 in the same test: the transcripts must
//! be identical. Zxids appear relative to the script's first node, so both
//! servers must also spend zxids alike.

use std::process::Command;
use std::time::Duration;

use zookeeper_client as zkc;

use crate::support;
use crate::zk_harness::{self, ZkServer};

fn both() -> Option<(ZkServer, ZkServer)> {
    let apache = zk_harness::start_apache("")?;
    Some((zk_harness::start_ours(""), apache))
}

fn assert_same(what: &str, ours: &str, theirs: &str) {
    if ours != theirs {
        let diff: Vec<String> = ours
            .lines()
            .zip(theirs.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("  ours:   {a}\n  apache: {b}"))
            .collect();
        panic!(
            "{what}: transcripts differ\n{}\n--- ours ---\n{ours}\n--- apache ---\n{theirs}",
            diff.join("\n")
        );
    }
}

#[test]
fn kazoo_script_matches_apache_zookeeper() {
    let Some(python) = support::python() else { return };
    let Some((ours, apache)) = both() else { return };
    let script = support::repo().join("tests/interop/zk_script.py");
    let run = |s: &ZkServer| {
        let out = support::run_with_timeout(
            Command::new(&python).arg(&script).arg(s.addr()),
            None,
            Duration::from_secs(90),
        );
        assert!(out.status.success(), "kazoo script against {}: {}", s.kind, support::stderr(&out));
        support::stdout(&out)
    };
    let (a, b) = (run(&ours), run(&apache));
    assert!(a.contains("reconnect expired 0 0 True"), "the script ran to the end:\n{a}");
    assert!(a.contains("null vs empty None b''"), "null data reads back as None:\n{a}");
    assert_same("kazoo", &a, &b);
}

/// zkCli.sh reading commands from stdin; lines that name the port, carry
/// wall-clock times or come from its logging are dropped.
#[test]
fn zkcli_script_matches_apache_zookeeper() {
    let Some(zkcli) = zk_harness::zkcli() else { return };
    let Some((ours, apache)) = both() else { return };
    let script = "create /zc hello\ncreate -s /zc/s- a\ncreate -s /zc/s- b\ncreate -e /zc/e x\n\
        ls /zc\nget -s /zc\nset /zc world\nset -v 7 /zc nope\nget /zc\nstat /zc\ncreate /zc again\n\
        delete /zc\ndelete /missing\ncreate /zc/c/d x\ndeleteall /zc/s-0000000000\nls -s /zc\n\
        setAcl /zc world:anyone:r\ngetAcl /zc\nset /zc nope\naddauth digest bob:pw\n\
        getAllChildrenNumber /zc\ngetEphemerals /zc\nwhoami\nsync /zc\ncreate /zn\nget /zn\n\
        stat /zn\nquit\n";
    let run = |s: &ZkServer| {
        let out = support::run_with_timeout(
            // Its answers go to both streams; one pipe keeps them in order.
            Command::new("sh")
                .args(["-c", "exec \"$0\" -server \"$1\" 2>&1"])
                .arg(&zkcli)
                .arg(s.addr()),
            Some(script.as_bytes()),
            Duration::from_secs(90),
        );
        support::stdout(&out)
            .lines()
            .filter(|l| {
                // Connection-state events are printed by zkCli's own
                // threads, racing its exit; node events are kept.
                !(l.contains("Connecting to")
                    || l.starts_with("WATCHER::")
                    || (l.starts_with("WatchedEvent") && l.contains("type:None"))
                    || l.contains("Welcome to ZooKeeper")
                    || l.starts_with("ctime")
                    || l.starts_with("mtime")
                    || l.contains("SLF4J")
                    || l.contains("JLine")
                    // zkCli prints its watcher's events from another thread;
                    // whether the final Closed event makes it out before the
                    // JVM exits is a race in zkCli, not a server difference.
                    || *l == "WATCHER::"
                    || l.starts_with("WatchedEvent state:Closed")
                    || l.trim().is_empty())
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (a, b) = (run(&ours), run(&apache));
    for expect in [
        "Created /zc/s-0000000001",
        "Node already exists: /zc",
        "Insufficient permission : /zc",
        "digest: bob",
    ] {
        assert!(a.contains(expect), "zkCli output lacks {expect:?}:\n{a}");
    }
    assert!(
        a.lines().skip_while(|l| *l != "Created /zn").nth(1) == Some("null"),
        "a node created without data reads back as null:\n{a}"
    );
    assert_same("zkCli.sh", &a, &b);
}

#[test]
fn zookeeper_client_crate_script_matches_apache_zookeeper() {
    let Some((ours, apache)) = both() else { return };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let run = |s: &ZkServer| {
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), crate_script(s.addr())).await
        })
        .unwrap_or_else(|_| panic!("crate script against {} timed out", s.kind))
        .join("\n")
    };
    let (a, b) = (run(&ours), run(&apache));
    assert!(a.contains("recursive NodeCreated /cs/w/x/y"), "{a}");
    assert_same("zookeeper-client", &a, &b);
}

async fn crate_script(addr: String) -> Vec<String> {
    let mut out = Vec::new();
    let connect =
        || zkc::Client::connector().with_session_timeout(Duration::from_secs(10)).connect(&addr);
    let c = connect().await.unwrap();
    let open = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
    let (base, _) = c.create("/cs", b"root", &open).await.unwrap();
    let z = base.czxid;
    let st = |s: &zkc::Stat| {
        format!(
            "czxid={} mzxid={} pzxid={} version={} cversion={} aversion={} eph={} len={} children={}",
            s.czxid - z,
            s.mzxid - z,
            s.pzxid - z,
            s.version,
            s.cversion,
            s.aversion,
            s.ephemeral_owner != 0,
            s.data_length,
            s.num_children
        )
    };
    out.push(format!("create {}", st(&base)));
    out.push(format!("exists again {:?}", c.create("/cs", b"", &open).await.err()));

    // Sequentials, containers, ephemerals.
    let seq = zkc::CreateMode::PersistentSequential.with_acls(zkc::Acls::anyone_all());
    for _ in 0..3 {
        let (_, n) = c.create("/cs/s-", b"", &seq).await.unwrap();
        out.push(format!("sequence {n}"));
    }
    let container = zkc::CreateMode::Container.with_acls(zkc::Acls::anyone_all());
    let (s, _) = c.create("/cs/box", b"", &container).await.unwrap();
    out.push(format!("container {}", st(&s)));
    let other = connect().await.unwrap();
    let eph = zkc::CreateMode::Ephemeral.with_acls(zkc::Acls::anyone_all());
    other.create("/cs/e1", b"x", &eph).await.unwrap();
    other.create("/cs/e2", b"x", &eph).await.unwrap();
    let mut ephs = other.list_ephemerals("/cs").await.unwrap();
    ephs.sort();
    out.push(format!("ephemerals {ephs:?}"));

    // One-shot watches fire once, on xid -1.
    let (_, _, w) = c.get_and_watch_data("/cs/e1").await.unwrap();
    let (_, _, cw) = c.get_and_watch_children("/cs").await.unwrap();
    drop(other);
    let ev = w.changed().await;
    out.push(format!("data watch {:?} {}", ev.event_type, ev.path));
    let ev = cw.changed().await;
    out.push(format!("child watch {:?} {}", ev.event_type, ev.path));
    out.push(format!("e1 after close {:?}", c.check_stat("/cs/e1").await.unwrap()));

    // Versions.
    out.push(format!("set v0 {}", st(&c.set_data("/cs", b"v1", Some(0)).await.unwrap())));
    out.push(format!("set v0 again {:?}", c.set_data("/cs", b"v2", Some(0)).await.err()));
    out.push(format!("delete not empty {:?}", c.delete("/cs", None).await.err()));

    // Multi, atomic.
    let mut m = c.new_multi_writer();
    m.add_create("/cs/m", b"m", &open).unwrap();
    m.add_set_data("/cs", b"v2", Some(1)).unwrap();
    m.add_check_version("/cs/m", 0).unwrap();
    match m.commit().await {
        Ok(results) => {
            for r in results {
                out.push(match r {
                    zkc::MultiWriteResult::Create { path, stat } => {
                        format!("multi create {path} {}", st(&stat))
                    }
                    zkc::MultiWriteResult::SetData { stat } => format!("multi set {}", st(&stat)),
                    other => format!("multi {other:?}"),
                });
            }
        }
        Err(e) => out.push(format!("multi failed {e}")),
    }
    let mut m = c.new_multi_writer();
    m.add_create("/cs/m2", b"", &open).unwrap();
    m.add_delete("/cs/m", Some(5)).unwrap();
    out.push(format!("failing multi {:?}", m.commit().await.err()));
    out.push(format!("m2 {:?}", c.check_stat("/cs/m2").await.unwrap()));
    let mut r = c.new_multi_reader();
    r.add_get_data("/cs/m").unwrap();
    r.add_get_children("/cs/missing").unwrap();
    let reads = r.commit().await.unwrap();
    for x in reads {
        out.push(match x {
            zkc::MultiReadResult::Data { data, stat } => {
                format!("read data {:?} {}", data, st(&stat))
            }
            zkc::MultiReadResult::Children { children } => format!("read children {children:?}"),
            zkc::MultiReadResult::Error { err } => format!("read error {err:?}"),
            other => format!("read {other:?}"),
        });
    }

    // ACLs: digest honoured.
    let alice = [zkc::Acl::new(
        zkc::Permission::ALL,
        zkc::AuthId::new("digest", "alice:V55/p2T0OpjQ+low3NVAH4aLvm0="),
    )];
    c.create("/cs/secret", b"s", &zkc::CreateMode::Persistent.with_acls(zkc::Acls::new(&alice)))
        .await
        .unwrap();
    out.push(format!("anonymous read {:?}", c.get_data("/cs/secret").await.err()));
    c.auth("digest", b"alice:pw").await.unwrap();
    out.push(format!("alice read {:?}", c.get_data("/cs/secret").await.map(|(d, _)| d)));
    let (acl, s) = c.get_acl("/cs/secret").await.unwrap();
    out.push(format!("acl {acl:?} {}", st(&s)));
    let mut users: Vec<String> = c
        .list_auth_users()
        .await
        .unwrap()
        .iter()
        .map(|u| format!("{}:{}", u.scheme(), u.user()))
        .collect();
    users.sort();
    out.push(format!("whoami {users:?}"));

    // Persistent recursive watch.
    c.create("/cs/w", b"", &open).await.unwrap();
    let mut pw = c.watch("/cs/w", zkc::AddWatchMode::PersistentRecursive).await.unwrap();
    c.create("/cs/w/x", b"", &open).await.unwrap();
    c.create("/cs/w/x/y", b"", &open).await.unwrap();
    c.set_data("/cs/w/x", b"d", None).await.unwrap();
    for _ in 0..3 {
        let ev = pw.changed().await;
        out.push(format!("recursive {:?} {}", ev.event_type, ev.path));
    }
    out.push(format!("descendants {}", c.count_descendants_number("/cs").await.unwrap()));
    c.sync("/cs").await.unwrap();
    let (mut kids, s) = c.get_children("/cs").await.unwrap();
    kids.sort();
    out.push(format!("children {kids:?} {}", st(&s)));
    out.push(format!("bad path {:?}", c.get_data("/cs/").await.err()));
    out
}
