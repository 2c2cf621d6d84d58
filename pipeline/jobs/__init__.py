"""Jenkins job provisioning from the catalog (python-jenkins)."""
