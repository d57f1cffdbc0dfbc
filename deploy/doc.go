// Package deploy holds no code: it is the home of the deployment files
// (Dockerfile, Prometheus, Grafana, Kubernetes and KEDA manifests; the
// compose file sits at the repository root) and of the tests that hold them
// to the shared contracts: metric names, topics and partition counts,
// environment variables, health endpoints, the replica ceiling. Schema
// validation of the same files (compose spec, Kubernetes and KEDA schemas,
// promtool) is scripts/validate-deploy.sh, which also runs these tests.
//
// The tests read the repository's files, or those under UNPAIR_DEPLOY_DIR
// (a directory holding docker-compose.yml and deploy/) when it is set, so
// the validation script can point them at a deliberately broken copy.
package deploy
