//! DescribeCluster: the live brokers, the controller and the cluster id.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::metadata::reachable_brokers;
use super::str_bytes;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::security::acl::{ResourceType, CLUSTER_NAME};

pub fn handle(
    ctx: &BrokerContext,
    listener: &str,
    req: DescribeClusterRequest,
    authz: &crate::broker::authorizer::Authz<'_>,
) -> DescribeClusterResponse {
    let image = ctx.store.image();
    let mut resp = DescribeClusterResponse::default();
    // endpoint_type 1 = brokers; 2 (controllers) is for KRaft clusters.
    if req.endpoint_type != 1 {
        resp.error_code = ErrorCode::UnsupportedEndpointType.code();
        resp.error_message = Some(str_bytes("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"));
        resp.endpoint_type = 1;
        return resp;
    }
    resp.endpoint_type = 1;
    resp.cluster_authorized_operations = if req.include_cluster_authorized_operations {
        authz.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
    } else {
        i32::MIN
    };
    resp.cluster_id = str_bytes(image.cluster_id.clone());
    resp.controller_id = BrokerId(image.controller_id);
    resp.brokers = reachable_brokers(&image, listener, |id, host, port, rack| {
        DescribeClusterBroker::default()
            .with_broker_id(id)
            .with_host(host)
            .with_port(port)
            .with_rack(rack)
    });
    resp
}
