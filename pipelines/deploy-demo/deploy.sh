#!/bin/sh
# deploy.sh ENV DIR: copies DIR into deploy/envs/ENV/releases/$SHIPGATE_RELEASE and points
# deploy/envs/ENV/current at it (what the demo's HTTP servers serve).
set -eu
env="$1"; src="$2"
dest="deploy/envs/$env/releases/${SHIPGATE_RELEASE:?}"
mkdir -p "$dest"
cp -R "$src/." "$dest/"
ln -sfn "releases/$SHIPGATE_RELEASE" "deploy/envs/$env/current.tmp"
mv -T "deploy/envs/$env/current.tmp" "deploy/envs/$env/current"
echo "deployed $(cat "$dest/VERSION") to $env as $SHIPGATE_RELEASE (previous: ${SHIPGATE_PREVIOUS_RELEASE:-none}${SHIPGATE_ROLLBACK_RELEASE:+; rolling back to $SHIPGATE_ROLLBACK_RELEASE})"
