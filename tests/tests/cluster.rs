//! Redis Cluster: shards spread over the masters, several app servers count exactly, and a
//! master killed during traffic is replaced by its replica without restarting the tracker.

mod support;

use active_users::{Config, DefaultEntry, RedisStore, Tracker, User};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::{RedisCluster, unique_namespace};

fn user_request(id: u32) -> http::Request<()> {
    let mut request = http::Request::get("/")
        .header("cookie", format!("sessionid=s{id}"))
        .body(())
        .expect("request");
    request.extensions_mut().insert(User::new(id.to_string()));
    request
}

fn tracker(cluster: &RedisCluster, config: Config) -> Tracker<DefaultEntry> {
    let store = RedisStore::open_cluster(cluster.urls()).expect("cluster store");
    Tracker::new(config, store).expect("tracker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shards_of_a_namespace_spread_over_all_masters() {
    let cluster = RedisCluster::start(3, 0);
    let ns = unique_namespace("spread");
    let config = Config::builder()
        .namespace(&ns)
        .shards(8)
        .build()
        .expect("config");
    let tracker = tracker(&cluster, config);
    for user in 0..400 {
        tracker.record(&user_request(user));
    }
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 400);

    let mut owners = HashSet::new();
    for key in tracker.shard_keys() {
        let slot = cluster.keyslot(key);
        let owner = cluster.owner_of_slot(slot).expect("an owner");
        let port = cluster
            .urls()
            .iter()
            .position(|u| u.contains(&format!(":{owner}/")))
            .expect("a node of ours");
        let in_slot = support::raw_command(owner, &format!("CLUSTER COUNTKEYSINSLOT {slot}"))
            .expect("answer");
        assert_ne!(in_slot.trim(), ":0", "{key} holds keys in slot {slot}");
        owners.insert(port);
    }
    let masters: HashSet<u16> = cluster.master_ports().into_iter().collect();
    assert_eq!(masters.len(), 3);
    assert_eq!(owners.len(), 3, "8 shards land on all 3 masters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_app_servers_count_overlapping_users_exactly() {
    let cluster = RedisCluster::start(3, 0);
    let ns = unique_namespace("four");
    let config = || {
        Config::builder()
            .namespace(&ns)
            .shards(8)
            .build()
            .expect("config")
    };
    let servers: Vec<Tracker<DefaultEntry>> = (0..4).map(|_| tracker(&cluster, config())).collect();
    // Overlapping ranges: 0..60, 40..100, 80..140, 120..200 -> 200 distinct users.
    for (i, server) in servers.iter().enumerate() {
        let start = i as u32 * 40;
        let end = if i == 3 { 200 } else { start + 60 };
        for user in start..end {
            server.record(&user_request(user));
        }
    }
    for server in &servers {
        server.flush().await.expect("flush");
    }
    for server in &servers {
        assert_eq!(
            server.count_distinct("user_id").await.expect("distinct"),
            200
        );
        assert_eq!(server.count().await.expect("count"), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_master_is_replaced_and_recording_resumes() {
    let mut cluster = RedisCluster::start(3, 1);
    let ns = unique_namespace("failover");
    let window = Duration::from_secs(3);
    let config = Config::builder()
        .namespace(&ns)
        .shards(8)
        .key_expire(window)
        .refresh_interval(Duration::from_millis(200))
        .flush_interval(Duration::from_millis(100))
        .query_timeout(Duration::from_secs(2))
        .build()
        .expect("config");
    let tracker = tracker(&cluster, config);

    // Traffic from users 0..100, then a master dies while it goes on.
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        for user in 0..100 {
            tracker.record(&user_request(user));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracker.flush().await.expect("flush before the failure");
    assert_eq!(tracker.count().await.expect("count"), 100);

    let victim_port = cluster.master_ports()[0];
    let victim = cluster
        .nodes()
        .iter_mut()
        .find(|n| n.port == victim_port)
        .expect("the victim is ours");
    victim.stop();

    // From now on only users 100..200 are active. The tracker keeps its connection object;
    // the cluster client finds the promoted replica by itself.
    let started = Instant::now();
    let mut recovered = None;
    while started.elapsed() < Duration::from_secs(30) {
        for user in 100..200 {
            tracker.record(&user_request(user));
        }
        if recovered.is_none() {
            match tracker.flush().await {
                Ok(()) => recovered = Some(started.elapsed()),
                Err(e) => eprintln!(
                    "{:?} flush: {e}; masters {:?}",
                    started.elapsed(),
                    cluster.master_ports()
                ),
            }
        }
        if let Some(at) = recovered
            && started.elapsed() > at + window + Duration::from_millis(500)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = recovered.expect("writes resumed after the failover");
    eprintln!("writes resumed {recovered:?} after the master was stopped");
    cluster.wait_until_ok(Duration::from_secs(10));
    let masters = cluster.master_ports();
    assert!(
        !masters.contains(&victim_port),
        "a replica took the victim's place"
    );
    assert_eq!(masters.len(), 3);
    tracker.flush().await.expect("flush");
    assert_eq!(
        tracker.count().await.expect("count"),
        100,
        "after a window, exactly the users still active are counted"
    );
    assert_eq!(
        tracker.count_distinct("user_id").await.expect("distinct"),
        100
    );
}

/// A slot that moved to another master (what a failover or a resharding does) is written at
/// its new owner by the next flush: a transaction refused with MOVED makes the store re-read
/// the slot map and write again, instead of failing until something else refreshes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_follows_a_slot_that_moved_to_another_master() {
    let cluster = RedisCluster::start(3, 0);
    let ns = unique_namespace("moved");
    let config = Config::builder().namespace(&ns).build().expect("config");
    let tracker = tracker(&cluster, config);
    tracker.record(&user_request(1));
    tracker.flush().await.expect("flush");

    // Empty the shard's slot and hand it to another master behind the client's back.
    let key = tracker.shard_keys()[0].clone();
    let slot = cluster.keyslot(&key);
    let owner = cluster.owner_of_slot(slot).expect("an owner");
    let keys = support::raw_command_full(owner, &format!("CLUSTER GETKEYSINSLOT {slot} 1000"));
    for name in keys.lines().filter(|l| l.starts_with("au:")) {
        let deleted = support::raw_command(owner, &format!("DEL {name}")).expect("DEL");
        assert_eq!(deleted.trim(), ":1", "{name}");
    }
    let target = cluster
        .master_ports()
        .into_iter()
        .find(|&p| p != owner)
        .expect("another master");
    let target_id = support::raw_command_full(target, "CLUSTER MYID");
    let target_id = target_id
        .lines()
        .find(|l| l.len() == 40)
        .expect("a node id");
    for port in cluster.master_ports() {
        let reply = support::raw_command(port, &format!("CLUSTER SETSLOT {slot} NODE {target_id}"))
            .expect("SETSLOT");
        assert_eq!(reply.trim(), "+OK", "on {port}");
    }
    assert_eq!(cluster.owner_of_slot(slot), Some(target));

    tracker.record(&user_request(2));
    tracker
        .flush()
        .await
        .expect("the first flush after the move writes at the new owner");
    assert_eq!(tracker.count().await.expect("count"), 1, "user 2 only");
}
