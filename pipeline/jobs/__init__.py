"""Jenkins job provisioning from the catalog (python-jenkins), behind `shipway jobs`.

  client.py   credentials, the connection (a pool of python-jenkins objects), tenacity
              retries on 5xx and connection errors
  failures.py python-jenkins/requests exceptions mapped to one-line Failures
  xmlnorm.py  config.xml normalisation: what counts as the same configuration (what
              Jenkins does to a stored config by itself is not drift), diffs
  names.py    the names Jenkins accepts (Jenkins.checkGoodName, credentials ids)
  plan.py     catalog items vs Jenkins items -> actions (pure, no I/O), ownership rules
  sync.py     reading Jenkins' state and carrying out a plan with a worker pool

What is rendered (folders, pipeline and rollback jobs, the ownership marker) is
`pipeline.render`'s business; this package only compares and applies.
"""
