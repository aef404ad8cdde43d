# Shared by the walkthrough scripts (deploy-demo.sh, console-demo.sh); sourced, not run.
# Sets REPO_ROOT and SHIPGATE (building shipgate unless SHIPGATE is given), makes a scratch
# directory DEMO (KEYS inside) removed at exit unless KEEP=1, and stops the processes whose
# pids are added to `pids`. Needs DEMO_NAME.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$PWD
if [ -z "${SHIPGATE:-}" ]; then
  scripts/setup.sh
  swift build --product shipgate
  SHIPGATE=$REPO_ROOT/.build/debug/shipgate
fi
DEMO=$(mktemp -d "/tmp/shipgate-$DEMO_NAME.XXXXXX")
KEYS=$DEMO/keys
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $DEMO"; else rm -rf "$DEMO"; fi
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@"; }

# The deploy demo's scratch repository on `main`: its pipeline as pipelines/deploy.yml, its
# deploy scripts, approver keys alice, bob and carol in the keyring (plus whatever the
# caller appends to pipelines/approvers.yml before committing with `demo_commit`).
demo_repository() {
  mkdir -p "$DEMO/work/pipelines" "$DEMO/work/deploy"
  cp pipelines/deploy-demo/pipeline.yml "$DEMO/work/pipelines/deploy.yml"
  cp pipelines/deploy-demo/deploy.sh pipelines/deploy-demo/serve.py "$DEMO/work/deploy/"
  cd "$DEMO/work"
  printf '.shipgate/\ndist/\ndeploy/envs/\n' > .gitignore
  for who in alice bob carol; do "$SHIPGATE" keygen "$who" --dir "$KEYS" 2>/dev/null >> pipelines/approvers.yml; done
}

demo_commit() {
  git init -q -b main && git -c user.name=dev -c user.email=dev@example.com add -A
  git -c user.name=dev -c user.email=dev@example.com commit -qm "deploy demo" && git tag v1.0.0
}
