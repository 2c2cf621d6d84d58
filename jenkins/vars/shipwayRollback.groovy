// shipwayRollback(service: 'hello', credentials: 'registry-creds')
//
// The whole declarative pipeline of a one-click rollback job: puts the service back on the
// release before the running one and sets the build description to "from X to Y".
// Parameter RELEASE (default "previous"): any other value is passed as `--to RELEASE`.

/**
 * service         the service name (required)
 * credentials     id of the registry's username/password credential (default: none)
 * prometheusCredentials  id of the username/password credential for the Pushgateway the
 *                 rollback's deploy marker goes to (default: none)
 * prometheusToken id of the secret text credential holding its bearer token instead
 * timeout         how long to wait for convergence, e.g. '300s' (default: shipway's)
 * agent           agent label, 'any' for any agent (default any)
 * timeoutMinutes  build timeout (default 30)
 */
def call(Map config = [:]) {
    String service = config.service
    if (!service) {
        error('shipwayRollback: service is required')
    }
    String credentials = config.credentials ?: null
    String prometheusCredentials = config.prometheusCredentials ?: null
    String prometheusToken = config.prometheusToken ?: null
    String agentLabel = (config.agent ?: 'any') == 'any' ? '' : config.agent
    int timeoutMinutes = (config.timeoutMinutes ?: 30) as int
    List rollbackArgs = config.timeout ? ['--timeout', config.timeout.toString()] : []

    pipeline {
        agent { label agentLabel }
        options {
            disableConcurrentBuilds()
            buildDiscarder(logRotator(numToKeepStr: '30'))
            timeout(time: timeoutMinutes, unit: 'MINUTES')
            skipDefaultCheckout()
        }
        parameters {
            string(name: 'RELEASE', defaultValue: 'previous', trim: true,
                   description: 'Release to return to: "previous" for the one before the running one, or a release reference')
        }
        stages {
            stage('Rollback') {
                steps {
                    script {
                        List extraArgs = rollbackArgs
                        String release = params.RELEASE ?: 'previous'
                        if (release != 'previous') {
                            extraArgs = extraArgs + ['--to', release]
                        }
                        def record = shipwayStage(stage: 'rollback', service: service,
                                                  credentials: credentials,
                                                  prometheusCredentials: prometheusCredentials,
                                                  prometheusToken: prometheusToken,
                                                  json: true, args: extraArgs)
                        currentBuild.description = "from ${record.previous_image} to ${record.image}"
                    }
                }
                post {
                    always {
                        archiveArtifacts artifacts: 'shipway-rollback.json', allowEmptyArchive: true
                    }
                }
            }
        }
    }
}
