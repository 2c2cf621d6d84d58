// shipwayRollback(service: 'hello', credentials: 'registry-creds')
//
// The whole declarative pipeline of a rollback button: lists the service's releases
// (`shipway releases --json`), asks which one to go back to and why (an input whose first
// choice is the newest release older than the running one that ran healthy: shipway writes
// every line and picks that default), then `shipway rollback --to #SEQ` with the reason and
// who answered. The build description says "from X to Y by WHO: WHY". The question holds no
// executor: only the Releases and Rollback stages take an agent.

/**
 * service         the swarm service name (required)
 * credentials     id of the registry's username/password credential (default: none)
 * prometheusCredentials  id of the username/password credential for the Pushgateway the
 *                 rollback's deploy marker goes to (default: none)
 * prometheusToken id of the secret text credential holding its bearer token instead
 * dockerHost      the engine of the swarm (default: the agent's DOCKER_HOST)
 * dockerCredentials  id of a Docker client certificate credential (Docker Commons'
 *                 dockerCert) for that engine; TLS is then verified (default: none)
 * submitter       who may answer: Jenkins user or group ids, comma-separated (default: anyone
 *                 who may build the job)
 * timeout         how long to wait for convergence, e.g. '300s' (default: shipway's)
 * agent           agent label, 'any' for any agent (default any)
 * timeoutMinutes  build timeout, the question included (default 30)
 */
def call(Map config = [:]) {
    String service = config.service
    if (!service) {
        error('shipwayRollback: service is required')
    }
    String agentLabel = (config.agent ?: 'any') == 'any' ? '' : config.agent
    int timeoutMinutes = (config.timeoutMinutes ?: 30) as int
    List rollbackArgs = config.timeout ? ['--timeout', config.timeout.toString()] : []
    List releases = []
    Map picked = [:]

    pipeline {
        agent none
        options {
            disableConcurrentBuilds()
            buildDiscarder(logRotator(numToKeepStr: '30'))
            timeout(time: timeoutMinutes, unit: 'MINUTES')
            skipDefaultCheckout()
        }
        stages {
            stage('Releases') {
                agent { label agentLabel }
                steps {
                    script {
                        onEngine(config) {
                            // readJSON's objects survive the pause at the input (JsonSlurper's
                            // lazy maps are not serializable).
                            releases = shipwayStage(stage: 'releases', service: service, json: true)
                        }
                    }
                }
            }
            stage('Pick') {
                steps {
                    script {
                        picked = ask(service, releases, config.submitter ?: null)
                    }
                }
            }
            stage('Rollback') {
                agent { label agentLabel }
                steps {
                    script {
                        // What a person typed reaches shipway as variables, never as code.
                        withEnv(["SHIPWAY_REASON=${picked.reason}".toString(),
                                 "SHIPWAY_APPROVED_BY=${picked.by}".toString()]) {
                            onEngine(config) {
                                def record = shipwayStage(stage: 'rollback', service: service,
                                                          credentials: config.credentials ?: null,
                                                          prometheusCredentials: config.prometheusCredentials ?: null,
                                                          prometheusToken: config.prometheusToken ?: null,
                                                          json: true, args: rollbackArgs + ['--to', picked.to])
                                currentBuild.description = "from ${record.previous_image} to ${record.image} by ${picked.by}" +
                                    (picked.reason ? ": ${picked.reason}" : '')
                            }
                        }
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

/** The input: shipway's lines, its default first, the running release in the message. */
Map ask(String service, List releases, String submitter) {
    List choices = []
    String first = null
    String running = 'a spec no recorded release has'
    for (def release : releases) {
        if (release.running) {
            running = release.choice
        } else if (release['default']) {
            first = release.choice
        } else {
            choices.add(release.choice)
        }
    }
    if (first != null) {
        choices.add(0, first)
    }
    if (choices.isEmpty()) {
        error("shipwayRollback: ${service} has no other recorded release to roll back to")
    }
    Map question = [message: "Roll ${service} back. Running now: ${running}".toString(),
                    ok: 'Roll back', submitterParameter: 'SHIPWAY_APPROVED_BY',
                    parameters: [choice(name: 'RELEASE', choices: choices,
                                        description: first != null ? 'The first is the newest older release that ran healthy.' : 'No older release ran healthy: pick with care.'),
                                 string(name: 'REASON', defaultValue: '', trim: true,
                                        description: 'Why: recorded with your name on the release it leaves.')]]
    if (submitter) {
        question.submitter = submitter
    }
    def answer = input(question)
    for (def release : releases) {
        if (release.choice == answer.RELEASE) {
            return [to: "#${release.seq}".toString(), reason: answer.REASON ?: '',
                    by: answer.SHIPWAY_APPROVED_BY ?: '']
        }
    }
    error("shipwayRollback: no listed release is ${answer.RELEASE}")
}

/** `body` with the engine's address and client certificate, when the config names them. */
def onEngine(Map config, Closure body) {
    List environment = []
    if (config.dockerHost) {
        environment << "DOCKER_HOST=${config.dockerHost}".toString()
    }
    if (!config.dockerCredentials) {
        return withEnv(environment) { body() }
    }
    environment << 'DOCKER_TLS_VERIFY=1'
    return withEnv(environment) {
        withCredentials([dockerCert(credentialsId: config.dockerCredentials, variable: 'DOCKER_CERT_PATH')]) {
            body()
        }
    }
}
