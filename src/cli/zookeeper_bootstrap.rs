//! `--zookeeper HOST:PORT[/chroot]` for the client tools: the brokers
//! registered in ZooKeeper become the bootstrap list, so `topics
//! --zookeeper` and `console-consumer --zookeeper` work as in the Kafka
//! quickstart, through a live broker.

use anyhow::bail;

pub fn resolve(zookeeper: &str) -> anyhow::Result<String> {
    let rt = super::client_opts::runtime()?;
    let found = rt.block_on(crate::cluster::zk_store::bootstrap_servers(zookeeper));
    match found {
        Ok(list) if !list.is_empty() => Ok(list),
        Ok(_) => bail!(
            "no broker is registered in ZooKeeper at {zookeeper}; start one, or use --bootstrap-server HOST:PORT"
        ),
        Err(e) => {
            bail!("cannot reach ZooKeeper at {zookeeper} ({e}); or use --bootstrap-server HOST:PORT")
        }
    }
}
