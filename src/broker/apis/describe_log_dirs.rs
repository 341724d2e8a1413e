//! DescribeLogDirs: each log dir with the size of every hosted partition
//! (all requested ones, or every one for a null topic list) and, from v4,
//! the file system's total and usable bytes.

use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse};

use super::by_topic::by_topic;
use super::{off_reactor, str_bytes};
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    version: i16,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let dirs = ctx.config.log_dirs.clone();
    let ctx = ctx.clone();
    let work = move || {
        let wanted = |topic: &str, p: i32| match &req.topics {
            None => true,
            Some(list) => {
                list.iter().any(|t| t.topic.0.as_str() == topic && t.partitions.contains(&p))
            }
        };
        let mut resp = DescribeLogDirsResponse::default();
        for dir in &ctx.config.log_dirs {
            let mut result = DescribeLogDirsResult::default();
            result.log_dir = str_bytes(dir.display().to_string());
            let hosted = ctx.replicas.all_partitions().into_iter().filter(|part| {
                part.log.dir().starts_with(dir) && wanted(&part.tp.topic, part.tp.partition.0)
            });
            let partitions = hosted.map(|part| {
                let mut p = DescribeLogDirsPartition::default();
                p.partition_index = part.tp.partition.0;
                p.partition_size = part.log.size_in_bytes() as i64;
                p.offset_lag = 0;
                (part.tp.topic.clone(), p)
            });
            result.topics = by_topic(partitions, |name, partitions| {
                DescribeLogDirsTopic::default().with_name(name).with_partitions(partitions)
            });
            if version >= 4 {
                if let Ok(fs) = rustix::fs::statvfs(dir) {
                    result.total_bytes = (fs.f_blocks * fs.f_frsize) as i64;
                    result.usable_bytes = (fs.f_bavail * fs.f_frsize) as i64;
                }
            }
            resp.results.push(result);
        }
        resp
    };
    off_reactor(ApiKey::DescribeLogDirs, work, |code| failed(&dirs, code)).await
}

/// The error for the whole request (v3+) and for each dir (every version).
pub(super) fn failed(dirs: &[std::path::PathBuf], code: ErrorCode) -> DescribeLogDirsResponse {
    let mut resp = DescribeLogDirsResponse::default();
    resp.error_code = code.code();
    for dir in dirs {
        let mut result = DescribeLogDirsResult::default();
        result.log_dir = str_bytes(dir.display().to_string());
        result.error_code = code.code();
        resp.results.push(result);
    }
    resp
}
