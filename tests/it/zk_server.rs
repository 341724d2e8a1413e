//! Our ZooKeeper server at its edges: hostile and malformed input, session
//! negotiation, reconnects and expiry, restarts, four-letter words and
//! zookeeper-stop. Where Apache ZooKeeper has a defined answer, both servers
//! get the same input and must give the same answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::support;
use crate::zk_harness::{self, create_body, frame, path_body, Raw, ZkServer};

const GET_DATA: i32 = 4;
const CREATE: i32 = 1;

/// Our server and, when installed, Apache ZooKeeper with the same config.
fn servers(extra: &str) -> Vec<ZkServer> {
    let mut v = vec![zk_harness::start_ours(extra)];
    v.extend(zk_harness::start_apache(extra));
    v
}

fn same_for_all<T: PartialEq + std::fmt::Debug>(
    servers: &[ZkServer],
    f: impl Fn(&ZkServer) -> T,
) -> T {
    let results: Vec<(&str, T)> = servers.iter().map(|s| (s.kind, f(s))).collect();
    for (kind, r) in &results[1..] {
        assert_eq!(&results[0].1, r, "{} and {kind} answer differently", results[0].0);
    }
    results.into_iter().next().unwrap().1
}

#[test]
fn invalid_paths_get_the_answers_apache_gives() {
    let paths = ["a", "/a/", "/a//b", "/a/./b", "/a/..", "", "/a\u{0}b", "/\u{1}"];
    let answers = same_for_all(&servers(""), |s| {
        let mut c = Raw::connect(s.port, 30_000).unwrap();
        let mut codes = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            let r = c.call(i as i32 + 1, GET_DATA, &path_body(p, false)).unwrap();
            let w = c.call(i as i32 + 100, CREATE, &create_body(p, b"", 0)).unwrap();
            let mut set = path_body(p, false);
            set.pop();
            set.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
            let s = c.call(i as i32 + 200, 5, &set).unwrap();
            let mut del = path_body(p, false);
            del.pop();
            del.extend_from_slice(&[0xff; 4]);
            let d = c.call(i as i32 + 300, 2, &del).unwrap();
            codes.push((p.to_string(), r.err, w.err, s.err, d.err));
        }
        // The connection stays usable after each refusal.
        codes.push((
            "/".into(),
            c.call(999, GET_DATA, &path_body("/", false)).unwrap().err,
            0,
            0,
            0,
        ));
        codes
    });
    // Reads only look the path up; writes refuse what cannot be a name.
    let relative = &answers[0];
    assert_eq!((relative.1, relative.2, relative.3), (-101, -8, -8), "{relative:?}");
}

#[test]
fn unknown_opcode_is_unimplemented_then_closed_as_in_apache() {
    let got = same_for_all(&servers(""), |s| {
        let mut c = Raw::connect(s.port, 30_000).unwrap();
        let r = c.call(1, 9999, b"").unwrap();
        (r.xid, r.err, c.is_closed())
    });
    // Checked on its own too: without Apache ZooKeeper there is nothing to
    // compare with. UNIMPLEMENTED is -6.
    assert_eq!(got, (1, -6, true));
}

#[test]
fn hostile_packets_close_only_their_own_connection() {
    let s = zk_harness::start_ours("jute.maxbuffer=65536");
    let mut good = Raw::connect(s.port, 30_000).unwrap();
    good.call(1, CREATE, &create_body("/keep", b"k", 0)).unwrap();
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("length above jute.maxbuffer", i32::MAX.to_be_bytes().to_vec()),
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        ("garbage ConnectRequest", frame(b"\x01\x02\x03")),
        ("truncated frame", {
            let mut f = 100i32.to_be_bytes().to_vec();
            f.extend_from_slice(b"short");
            f
        }),
    ];
    for (why, bytes) in hostile {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(&bytes).unwrap();
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut buf = Vec::new();
        let _ = c.read_to_end(&mut buf);
        assert!(buf.is_empty(), "{why}: no reply, just a close");
    }
    // After a session: bodies that lie about their contents.
    let mut huge_acl = create_body("/x", b"", 0);
    let acl_at = 4 + 2 + 4; // path, empty data
    huge_acl[acl_at..acl_at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    let multi_without_end = [1i32.to_be_bytes(), [0, 0, 0, 0]].concat();
    let lies: Vec<(&str, i32, Vec<u8>)> = vec![
        ("ACL count beyond the packet", CREATE, huge_acl),
        ("string longer than the packet", GET_DATA, [0x7fi8 as u8, 0xff, 0xff, 0xff].to_vec()),
        ("multi cut short", 14, multi_without_end),
        ("body missing", GET_DATA, Vec::new()),
    ];
    for (why, op, body) in lies {
        let mut c = Raw::connect(s.port, 30_000).unwrap();
        c.send(7, op, &body).unwrap();
        assert!(c.is_closed(), "{why}: the connection is closed");
    }
    // Random frames after a valid handshake.
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..200 {
        let mut c = Raw::connect(s.port, 30_000).unwrap();
        let len = rng.usize(0..300);
        let body: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        let _ = c.stream.write_all(&frame(&body));
    }
    let r = good.call(2, GET_DATA, &path_body("/keep", false)).unwrap();
    assert_eq!(r.err, 0, "the well-behaved session is untouched");
    assert_eq!(zk_harness::four_letter(s.port, "ruok"), "imok");
}

#[test]
fn session_timeout_is_negotiated_as_in_apache() {
    // tickTime=500: minSessionTimeout 1000, maxSessionTimeout 10000.
    let got = same_for_all(&servers(""), |s| {
        [1, 5_000, 1_000_000].map(|t| Raw::connect(s.port, t).unwrap().timeout)
    });
    assert_eq!(got, [1_000, 5_000, 10_000]);
}

#[test]
fn reconnects_and_expired_sessions_as_in_apache() {
    let got = same_for_all(&servers(""), |s| {
        let mut a = Raw::connect(s.port, 4_000).unwrap();
        assert_eq!(a.call(1, CREATE, &create_body("/eph", b"", 1)).unwrap().err, 0);
        // Same id and password on a new connection: the same session.
        let mut b = Raw::reconnect(s.port, 4_000, a.session, &a.password, 0).unwrap();
        let same = b.session == a.session && b.timeout == 4_000;
        let still = b.call(2, GET_DATA, &path_body("/eph", false)).unwrap().err;
        let old_closed = a.is_closed();
        // A wrong password gets the expired answer.
        let mut wrong = Raw::reconnect(s.port, 4_000, b.session, &[9; 16], 0).unwrap();
        let expired = (wrong.timeout, wrong.session, wrong.password.clone(), wrong.is_closed());
        // A client that has seen a zxid from our future is refused outright.
        let future = Raw::reconnect(s.port, 4_000, 0, &[0; 16], 1 << 40).is_err();
        (same, still, old_closed, expired, future)
    });
    // Apache's answer to a wrong password is a ConnectResponse with timeout
    // 0, session 0 and an all-zero password, then a close.
    assert_eq!(got, (true, 0, true, (0, 0, vec![0; 16], true), true));
}

#[test]
fn ephemerals_survive_a_restart_and_expire_with_their_session() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut server = zk_harness::spawn_ours(dir.path(), port, "");
    let mut c = Raw::connect(port, 2_000).unwrap();
    assert_eq!(c.call(1, CREATE, &create_body("/owned", b"", 1)).unwrap().err, 0);
    server.kill9();
    let _server = zk_harness::spawn_ours(dir.path(), port, "");
    let mut watcher = Raw::connect(port, 30_000).unwrap();
    let r = watcher.call(1, 3, &path_body("/owned", true)).unwrap();
    assert_eq!(r.err, 0, "the ephemeral came back with its session");
    // The owner never returns: the session expires and the watch fires.
    let ev = watcher.recv().unwrap();
    assert_eq!(ev.xid, -1, "a notification");
    assert_eq!(i32::from_be_bytes(ev.body[0..4].try_into().unwrap()), 2, "NodeDeleted");
    let r = watcher.call(2, 3, &path_body("/owned", false)).unwrap();
    assert_eq!(r.err, -101);
}

#[test]
fn empty_containers_are_deleted() {
    let s = zk_harness::start_ours("znode.container.checkIntervalMs=50");
    let mut c = Raw::connect(s.port, 30_000).unwrap();
    assert_eq!(c.call(1, 19, &create_body("/box", b"", 4)).unwrap().err, 0);
    let mut never_used = Raw::connect(s.port, 30_000).unwrap();
    assert_eq!(never_used.call(1, 19, &create_body("/fresh", b"", 4)).unwrap().err, 0);
    assert_eq!(c.call(2, CREATE, &create_body("/box/x", b"", 0)).unwrap().err, 0);
    assert_eq!(
        c.call(
            3,
            2,
            &[path_body("/box/x", false)[..10].to_vec(), (-1i32).to_be_bytes().to_vec()].concat()
        )
        .unwrap()
        .err,
        0
    );
    support::wait_until(Duration::from_secs(10), "the emptied container to go", || {
        c.call(9, 3, &path_body("/box", false)).unwrap().err == -101
    });
    assert_eq!(
        c.call(10, 3, &path_body("/fresh", false)).unwrap().err,
        0,
        "a container that never had children stays"
    );
}

#[test]
fn four_letter_words_and_whitelist_as_in_apache() {
    for s in servers("") {
        let word = |w: &str| zk_harness::four_letter(s.port, w);
        assert_eq!(word("ruok"), "imok", "{}", s.kind);
        assert_eq!(word("isro"), "rw", "{}", s.kind);
        let srvr = word("srvr");
        for key in [
            "Zookeeper version: 3.8.",
            "Latency min/avg/max:",
            "Mode: standalone",
            "Node count: 5",
            "Zxid: 0x",
        ] {
            assert!(srvr.contains(key), "{} srvr lacks {key}:\n{srvr}", s.kind);
        }
        let _c = Raw::connect(s.port, 30_000).unwrap();
        assert!(word("stat").contains("Clients:\n /127.0.0.1:"), "{}", s.kind);
        assert!(word("cons").contains("/127.0.0.1:"), "{}", s.kind);
        let mntr = word("mntr");
        for key in [
            "zk_version\t",
            "zk_server_state\tstandalone",
            "zk_znode_count\t5",
            "zk_num_alive_connections\t",
        ] {
            assert!(mntr.contains(key), "{} mntr lacks {key:?}", s.kind);
        }
        assert!(word("conf").contains(&format!("clientPort={}\n", s.port)), "{}", s.kind);
        assert!(word("conf").contains("tickTime=500\n"), "{}", s.kind);
        assert!(word("envi").contains("zookeeper.version=3.8."), "{}", s.kind);
    }
    // ZooKeeper's default whitelist is srvr alone.
    same_for_all(&servers("4lw.commands.whitelist=srvr"), |s| {
        (zk_harness::four_letter(s.port, "ruok"), zk_harness::four_letter(s.port, "mntr"))
    });
    let ours = zk_harness::start_ours("4lw.commands.whitelist=srvr");
    assert_eq!(
        zk_harness::four_letter(ours.port, "ruok"),
        "ruok is not executed because it is not in the whitelist.\n"
    );
}

#[test]
fn zookeeper_stop_ends_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut server = zk_harness::spawn_ours(dir.path(), port, "");
    let mut c = Raw::connect(port, 30_000).unwrap();
    assert_eq!(c.call(1, CREATE, &create_body("/kept", b"k", 0)).unwrap().err, 0);
    // zookeeper-stop signals every server of this machine; signal ours only,
    // as other tests run servers in parallel.
    let st = Command::new("kill").arg("-TERM").arg(server.pid().to_string()).status().unwrap();
    assert!(st.success());
    support::wait_until(Duration::from_secs(10), "the server to exit", || {
        server.try_wait().is_some()
    });
    assert!(server.try_wait().unwrap().success(), "a clean stop exits 0");
    let _again = zk_harness::spawn_ours(dir.path(), port, "");
    let mut c = Raw::connect(port, 30_000).unwrap();
    assert_eq!(c.call(1, GET_DATA, &path_body("/kept", false)).unwrap().err, 0);
}

fn strings_body(path_first: &str, rest: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    zk_harness::string(&mut b, path_first.as_bytes());
    b.extend_from_slice(rest);
    b
}

fn vector(paths: &[&str]) -> Vec<u8> {
    let mut b = (paths.len() as i32).to_be_bytes().to_vec();
    for p in paths {
        zk_harness::string(&mut b, p.as_bytes());
    }
    b
}

/// Event type of a notification frame body.
fn event_of(r: &zk_harness::Reply) -> (i32, String) {
    let t = i32::from_be_bytes(r.body[0..4].try_into().unwrap());
    let len = i32::from_be_bytes(r.body[8..12].try_into().unwrap()) as usize;
    (t, String::from_utf8_lossy(&r.body[12..12 + len]).into_owned())
}

#[test]
fn set_watches_fires_for_missed_changes_as_in_apache() {
    same_for_all(&servers(""), |s| {
        let mut c = Raw::connect(s.port, 30_000).unwrap();
        let before = c.call(1, CREATE, &create_body("/sw", b"", 0)).unwrap().zxid;
        assert_eq!(c.call(2, CREATE, &create_body("/sw/kid", b"", 0)).unwrap().err, 0);
        // As a reconnecting client would: data, exist and child watches
        // registered as of `before`, which the changes above are newer than.
        let mut body = before.to_be_bytes().to_vec();
        body.extend(vector(&["/sw", "/gone"]));
        body.extend(vector(&["/sw/kid", "/nothere"]));
        body.extend(vector(&["/sw"]));
        c.send(-8, 101, &body).unwrap();
        let mut events = Vec::new();
        let reply = loop {
            let r = c.recv().unwrap();
            if r.xid == -1 {
                events.push(event_of(&r));
            } else {
                break (r.xid, r.err);
            }
        };
        // The still-pending exist watch on /nothere fires on its create.
        c.send(3, CREATE, &create_body("/nothere", b"", 0)).unwrap();
        loop {
            let r = c.recv().unwrap();
            if r.xid != -1 {
                break;
            }
            events.push(event_of(&r));
        }
        events.sort();
        (reply, events)
    });
}

#[test]
fn add_check_and_remove_watches_as_in_apache() {
    same_for_all(&servers(""), |s| {
        let mut c = Raw::connect(s.port, 30_000).unwrap();
        c.call(1, 4, &path_body("/zookeeper", true)).unwrap();
        // (opcode, path, watcher type): 17 checkWatches, 18 removeWatches,
        // 106 addWatch (0 = persistent); 1 children, 2 data, 3 any, 4 persistent.
        let steps = [
            (17, "/w", 2i32, "no data watch yet"),
            (106, "/w", 0, "add a persistent watch"),
            (17, "/w", 4, "3.8 cannot name the persistent type"),
            (17, "/w", 3, "any finds the persistent watch"),
            (18, "/w", 4, "nor remove it by type"),
            (17, "/w", 4, "still unnamed"),
            (18, "/zookeeper", 1, "only a data watch is there"),
            (18, "/zookeeper", 2, "the data watch goes"),
        ];
        let mut codes = Vec::new();
        for (i, (op, path, kind, why)) in steps.iter().enumerate() {
            let r = c.call(i as i32 + 2, *op, &strings_body(path, &(*kind).to_be_bytes())).unwrap();
            codes.push((*why, r.err));
        }
        codes
    });
}

#[test]
fn unknown_auth_scheme_fails_and_closes_as_in_apache() {
    same_for_all(&servers(""), |s| {
        let mut c = Raw::connect(s.port, 30_000).unwrap();
        let mut body = 0i32.to_be_bytes().to_vec();
        zk_harness::string(&mut body, b"nosuchscheme");
        zk_harness::string(&mut body, b"x");
        let r = c.call(-4, 100, &body).unwrap();
        (r.xid, r.err, c.is_closed())
    });
}

#[test]
fn ttl_nodes_need_extended_types_and_expire() {
    let body = |p: &str, ttl: i64| {
        let mut b = create_body(p, b"", 5);
        b.extend_from_slice(&ttl.to_be_bytes());
        b
    };
    // Off by default, in both servers.
    same_for_all(&servers(""), |s| {
        Raw::connect(s.port, 30_000).unwrap().call(1, 21, &body("/t", 100)).unwrap().err
    });
    let s = zk_harness::start_ours(
        "zookeeper.extendedTypesEnabled=true\nznode.container.checkIntervalMs=50",
    );
    let mut c = Raw::connect(s.port, 30_000).unwrap();
    assert_eq!(c.call(1, 21, &body("/t", 100)).unwrap().err, 0);
    assert_eq!(c.call(2, 21, &body("/t2", 0)).unwrap().err, -8, "a TTL must be positive");
    support::wait_until(Duration::from_secs(10), "the TTL node to expire", || {
        c.call(3, 3, &path_body("/t", false)).unwrap().err == -101
    });
}

#[test]
fn max_client_cnxns_limits_connections_per_address() {
    let s = zk_harness::start_ours("maxClientCnxns=2");
    let _a = Raw::connect(s.port, 30_000).unwrap();
    let _b = Raw::connect(s.port, 30_000).unwrap();
    assert!(
        Raw::connect(s.port, 30_000).is_err(),
        "the third connection from 127.0.0.1 is dropped"
    );
    drop(_a);
    support::wait_until(Duration::from_secs(10), "a slot to free up", || {
        Raw::connect(s.port, 30_000).is_ok()
    });
}

/// Issue 17, item 3: one session pipelining getData of a 1 MB node and
/// never reading took the server from 11 MB to 2.57 GB in 1.5 s.
#[test]
fn r17_a_client_that_never_reads_only_slows_itself() {
    const REQUESTS: i32 = 2_500;
    const MB: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let server = zk_harness::spawn_ours(dir.path(), port, "");
    let pid = server.pid();
    let mut other = Raw::connect(port, 30_000).unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
    assert_eq!(other.call(1, CREATE, &create_body("/big", &big, 0)).unwrap().err, 0);
    let before = zk_harness::vm_rss(pid);

    let mut hog = Raw::connect(port, 30_000).unwrap();
    hog.stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    for xid in 1..=REQUESTS {
        hog.send(xid, GET_DATA, &path_body("/big", false)).unwrap();
    }
    let mut peak = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        peak = peak.max(zk_harness::vm_rss(pid));
        if peak > before + 1024 * MB {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("server RSS {} MB before, {} MB peak", before / MB, peak / MB);
    assert!(
        peak < before + 64 * MB,
        "RSS went from {} MB to {} MB for one client that does not read",
        before / MB,
        peak / MB
    );
    let r = other.call(2, GET_DATA, &path_body("/big", false)).unwrap();
    assert_eq!((r.err, r.body.len()), (0, 4 + big.len() + 68), "other sessions are served");

    // Once it reads, it gets every reply, in order, whole.
    hog.stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    for xid in 1..=REQUESTS {
        let r = hog.recv().unwrap();
        assert_eq!((r.xid, r.err), (xid, 0));
        assert_eq!(&r.body[4..4 + big.len()], &big[..], "reply {xid}");
    }
    // Leaving with a full pipeline gives everything back.
    for xid in 1..=REQUESTS {
        hog.send(REQUESTS + xid, GET_DATA, &path_body("/big", false)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(hog);
    support::wait_until(Duration::from_secs(10), "the memory to be released", || {
        zk_harness::vm_rss(pid) < before + 16 * MB
    });
    // A fresh session: `other` may have expired while the hog read.
    let mut after = Raw::connect(port, 30_000).unwrap();
    assert_eq!(after.call(1, GET_DATA, &path_body("/big", false)).unwrap().err, 0);
}
