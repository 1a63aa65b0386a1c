//! placeholder
use serde::{Deserialize, Serialize};
/// A port's tc tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcTree {
    /// The tc commands that built it, in order.
    pub commands: Vec<Vec<String>>,
}
impl TcTree {
    /// The scheduler.
    pub fn spec(&self) -> Option<crate::qos_spec::EgressSpec> {
        None
    }
}
