// shipwayPipeline(service: 'hello')
//
// The whole declarative pipeline of one service, so its Jenkinsfile is two lines:
//     @Library('shipway') _
//     shipwayPipeline(service: 'hello', credentials: 'registry-creds')
// Stages: Checkout, Build, Image, Push, Deploy (deploy branches only).

/**
 * service         the service name (required)
 * catalog         the catalog's path in the repo (default shipway.yml)
 * credentials     id of the registry's username/password credential (default: none)
 * deployBranches  branches that deploy, Ant-style patterns (default ['main']; [] never deploys)
 * agent           agent label, 'any' for any agent (default any)
 * timeoutMinutes  build timeout (default 30)
 */
def call(Map config = [:]) {
    String service = config.service
    if (!service) {
        error('shipwayPipeline: service is required')
    }
    String catalog = config.catalog ?: 'shipway.yml'
    String credentials = config.credentials ?: null
    List deployBranches = config.containsKey('deployBranches') ? (config.deployBranches ?: []) : ['main']
    // An empty label runs on any agent, like `agent any`.
    String agentLabel = (config.agent ?: 'any') == 'any' ? '' : config.agent
    int timeoutMinutes = (config.timeoutMinutes ?: 30) as int

    pipeline {
        agent { label agentLabel }
        options {
            disableConcurrentBuilds()
            buildDiscarder(logRotator(numToKeepStr: '30'))
            timeout(time: timeoutMinutes, unit: 'MINUTES')
            skipDefaultCheckout()
        }
        stages {
            stage('Checkout') {
                steps {
                    script {
                        // Outside multibranch jobs nothing puts checkout's variables in env:
                        // shipway reads GIT_COMMIT/GIT_URL, the deploy check GIT_LOCAL_BRANCH.
                        def scmVars = checkout scm
                        env.GIT_COMMIT = scmVars.GIT_COMMIT ?: ''
                        env.GIT_URL = scmVars.GIT_URL ?: ''
                        env.GIT_BRANCH = scmVars.GIT_BRANCH ?: ''
                        env.GIT_LOCAL_BRANCH = scmVars.GIT_LOCAL_BRANCH ?: ''
                    }
                }
            }
            stage('Build') {
                steps {
                    shipwayStage(stage: 'build', service: service, catalog: catalog)
                }
            }
            stage('Image') {
                steps {
                    shipwayStage(stage: 'image', service: service, catalog: catalog)
                }
            }
            stage('Push') {
                steps {
                    shipwayStage(stage: 'push', service: service, catalog: catalog, credentials: credentials)
                }
            }
            stage('Deploy') {
                when {
                    expression { return isDeployBranch(deployBranches, env.BRANCH_NAME ?: env.GIT_LOCAL_BRANCH) }
                }
                steps {
                    shipwayStage(stage: 'deploy', service: service, catalog: catalog,
                                 credentials: credentials, json: true)
                }
                post {
                    always {
                        // What runs now, after a failed deploy too (swarm may have rolled back).
                        script {
                            try {
                                shipwayStage(stage: 'status', service: service, catalog: catalog, json: true)
                            } catch (err) {
                                echo "shipway status failed: ${err}"
                            }
                        }
                        archiveArtifacts artifacts: 'shipway-deploy.json, shipway-status.json', allowEmptyArchive: true
                    }
                }
            }
        }
    }
}

/** Whether `branch` matches one of the Ant-style `patterns`, as `when { branch }` matches. */
@NonCPS
boolean isDeployBranch(List patterns, String branch) {
    if (!branch) {
        return false
    }
    for (Object pattern : patterns) {
        StringBuilder regex = new StringBuilder()
        String text = pattern.toString()
        int i = 0
        while (i < text.length()) {
            if (text.startsWith('**', i)) {
                regex.append('.*')
                i += 2
            } else {
                char c = text.charAt(i)
                if (c == '*' as char) {
                    regex.append('[^/]*')
                } else if (c == '?' as char) {
                    regex.append('[^/]')
                } else {
                    regex.append(java.util.regex.Pattern.quote(String.valueOf(c)))
                }
                i += 1
            }
        }
        if (branch.matches(regex.toString())) {
            return true
        }
    }
    return false
}
